// threadprobe: what one more connection thread costs, on the probe's side and the server's.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <limits>

#include "cli.hpp"
#include "embedded_server.hpp"
#include "output_file.hpp"
#include "progress.hpp"
#include "protocol.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"
#include "threadprobe.hpp"
#include "threadprobe_report.hpp"
#include "topology.hpp"
#include "units.hpp"

namespace {

using namespace std::chrono_literals;

// Room above --touch for the thread's own frames, TLS and glibc's thread descriptor.
constexpr std::uint64_t kStackReserve = 16 * 1024;

struct Options {
    tp::Count threads{1000};
    tp::StackSize stack{};
    tp::Count request{10};
    tp::ByteSize touch{};
    tp::Duration baseline{300ms};
    tp::Duration hold{1s};
    tp::Duration interval{100ms};
    tp::Duration ramp_timeout{60s};
    std::string cpuset;
    std::string connect;
    tp::Count server_pid{};
    std::string json_path;
    std::string csv_path;
    bool quiet = false;
};

tp::ThreadProbeConfig to_config(const Options& o, const tp::po::variables_map& vm) {
    tp::require_range("threads", o.threads.value, 1, 1'000'000);
    // Above the embedded server's default --max-n the server would refuse every request.
    tp::require_range("request", o.request.value, 0, tp::ProtocolLimits{}.max_n);
    tp::ThreadProbeConfig c;
    c.threads = o.threads.value;
    c.request_n = static_cast<unsigned>(o.request.value);
    c.stack = tp::thread_stack_for(o.stack, "threadprobe");
    const std::uint64_t stack = c.stack.value_or(tp::default_thread_stack());
    if (o.touch.bytes + kStackReserve > stack)
        throw tp::UsageError(fmt::format(
            "option '--touch': {} does not fit in a {} stack (leave {} for the thread itself)",
            tp::format_size(o.touch.bytes), tp::format_size(stack),
            tp::format_size(kStackReserve)));
    c.touch_bytes = o.touch.bytes;
    if (o.interval.value < 1ms) throw tp::UsageError("option '--interval': must be at least 1ms");
    if (o.hold.value < o.interval.value)
        throw tp::UsageError("option '--hold': must be at least one --interval");
    c.baseline = o.baseline.value;
    c.hold = o.hold.value;
    c.interval = o.interval.value;
    c.ramp_timeout = o.ramp_timeout.value;
    if (vm.count("cpuset"))
        c.cpuset = tp::parse_option("cpuset", [&] { return tp::check_cpuset(o.cpuset); });
    if (!o.connect.empty())
        c.connect = tp::parse_option("connect", [&] { return tp::parse_endpoint(o.connect); });
    if (vm.count("server-pid")) {
        if (!c.connect)
            throw tp::UsageError(
                "option '--server-pid': only with --connect (an embedded "
                "server's pid is known)");
        tp::require_range("server-pid", o.server_pid.value, 1, std::numeric_limits<pid_t>::max());
        c.server_pid = static_cast<pid_t>(o.server_pid.value);
        if (::kill(*c.server_pid, 0) != 0 && errno == ESRCH)
            throw tp::UsageError(
                fmt::format("option '--server-pid': no process {}", *c.server_pid));
    }
    if (!c.connect) c.server_binary = tp::sibling_program("fibserver");
    return c;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    Options o;
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("threads,n", po::value(&o.threads)->value_name("N"), "connection threads to spawn (default 1000)")
        ("stack,s", po::value(&o.stack)->value_name("SIZE"), "pthread stack size: 16k, 64k, 1m, 8MiB or 'default' (default: default)")
        ("request", po::value(&o.request)->value_name("N"), "each thread asks the server for fib(N) (default 10)")
        ("touch", po::value(&o.touch)->value_name("BYTES"), "stack each thread dirties while it holds (default 0)")
        ("hold", po::value(&o.hold)->value_name("DURATION"), "how long every connection is held and sampled (default 1s)")
        ("interval", po::value(&o.interval)->value_name("DURATION"), "sampling interval (default 100ms)")
        ("baseline", po::value(&o.baseline)->value_name("DURATION"), "sampling before any thread is spawned (default 300ms)")
        ("ramp-timeout", po::value(&o.ramp_timeout)->value_name("DURATION"), "give up on connections unanswered after this (default 60s)")
        ("cpuset", po::value(&o.cpuset)->value_name("LIST"), "bind the connection threads to these PUs (hwloc list: 0-1,3)")
        ("connect", po::value(&o.connect)->value_name("HOST:PORT"), "use a running server instead of starting one")
        ("server-pid", po::value(&o.server_pid)->value_name("PID"), "with --connect: sample that server's memory too")
        ("json", po::value(&o.json_path)->value_name("FILE"), "write results as JSON (context, config, samples, summary)")
        ("csv", po::value(&o.csv_path)->value_name("FILE"), "write the samples as CSV")
        ("quiet,q", po::bool_switch(&o.quiet), "no table on stdout, no progress");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "threadprobe", "[--threads N] [--stack SIZE] [options]", options, argc, argv, vm))
        return *done;
    const tp::ThreadProbeConfig config = to_config(o, vm);

    // Created before the run so a bad path fails now, not after a long measurement.
    std::optional<tp::OutputFile> json_file, csv_file;
    if (!o.json_path.empty()) json_file.emplace(o.json_path);
    if (!o.csv_path.empty()) csv_file.emplace(o.csv_path);

    tp::StopSignal stop;
    const tp::ThreadProbeResult result = [&] {
        const tp::TerminalProgress progress(o.quiet);
        return tp::run_threadprobe(config, stop, progress.fn());
    }();

    if (json_file) json_file->commit(tp::to_json(result).dump(2) + "\n");
    if (csv_file) csv_file->commit(tp::to_csv(result));
    if (!o.quiet) std::cout << tp::to_table(result) << std::flush;
    if (result.failure)
        std::cerr << fmt::format("threadprobe: stopped at {} of {} threads: {} ({})\n",
                                 result.connections, config.threads, result.failure->error,
                                 result.failure->diagnosis.binding_limit);
    if (result.server_died)
        std::cerr << fmt::format("threadprobe: the server died mid-run: {}\n", *result.server_died);
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("threadprobe", [&] { return run(argc, argv); });
}
