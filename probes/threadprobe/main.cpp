// threadprobe: what one more connection thread costs, on the probe's side and the server's.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <limits>

#include "cli.hpp"
#include "embedded_server.hpp"
#include "live_metrics.hpp"
#include "live_process.hpp"
#include "margin_options.hpp"
#include "metrics_file.hpp"
#include "progress.hpp"
#include "protocol.hpp"
#include "result_outputs.hpp"
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

// The command line's values, each starting at ThreadProbeConfig's default: the defaults are
// written once, there, and --help shows them from there.
struct Options {
    explicit Options(const tp::ThreadProbeConfig& d)
        : threads{d.threads},
          request{d.request_n},
          touch{d.touch_bytes},
          baseline{d.baseline},
          hold{d.hold},
          interval{d.interval},
          ramp_timeout{d.ramp_timeout} {}

    tp::Count threads;
    tp::StackSize stack{};
    tp::Count request;
    tp::ByteSize touch;
    tp::Duration baseline;
    tp::Duration hold;
    tp::Duration interval;
    tp::Duration ramp_timeout;
    std::string cpuset;
    std::string connect;
    tp::Count server_pid{};
    tp::Count pid{};
    tp::Duration watch{};
    std::string openmetrics;
    tp::MarginOptions margin;
    tp::OutputOptions output;
};

// A run that would bring the machine's tasks past the safety margin is refused before it
// starts: the embedded threads server adds a thread per connection too. Limits of the probe's
// own (RLIMIT_AS, RLIMIT_NPROC, ...) are met for real and reported, results kept.
void refuse_past_margin(const tp::ThreadProbeConfig& c) {
    if (!c.margin.max_tasks) return;
    const auto tasks = tp::ProcFs{}.tasks();
    if (!tasks) return;
    const std::uint64_t per_connection = c.connect ? 1 : 2;
    const std::uint64_t after = *tasks + c.threads * per_connection;
    if (after <= *c.margin.max_tasks) return;
    const std::uint64_t fit =
        *c.margin.max_tasks > *tasks ? (*c.margin.max_tasks - *tasks) / per_connection : 0;
    throw tp::option_error(
        "threads",
        fmt::format("{} would bring the machine to {} tasks, past the safety margin ({}): "
                    "at most {} fit; --to-the-limit goes anyway",
                    c.threads, after, c.margin.evidence, fit));
}

// --pid: a live process, inspected; the options that spawn threads have nothing to do.
tp::LiveProcessConfig live_config(const Options& o, const tp::po::variables_map& vm) {
    for (const char* spawning :
         {"threads", "stack", "request", "touch", "hold", "baseline", "ramp-timeout", "cpuset",
          "connect", "server-pid", "keep-free", "to-the-limit"})
        if (vm.count(spawning) && !vm[spawning].defaulted())
            throw tp::option_error(spawning,
                                   "not with --pid: it inspects a process, it spawns nothing");
    tp::LiveProcessConfig c;
    c.pid = static_cast<pid_t>(
        tp::require_range("pid", o.pid.value, 1, std::numeric_limits<pid_t>::max()));
    if (vm.count("watch")) {
        if (o.watch.value <= 0s) throw tp::option_error("watch", "must be longer than 0s");
        c.watch = o.watch.value;
    }
    if (vm.count("interval")) {
        if (o.interval.value < 10ms) throw tp::option_error("interval", "at least 10ms with --pid");
        c.interval = o.interval.value;
    } else if (c.watch) {
        c.interval = std::min<std::chrono::nanoseconds>(c.interval, *c.watch);
    }
    if (!c.watch && vm.count("interval"))
        throw tp::option_error("interval", "with --pid, only beside --watch");
    return c;
}

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
    c.margin = tp::margin_for(o.margin, tp::ProcFs{}, "threadprobe");
    refuse_past_margin(c);
    return c;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    const tp::ThreadProbeConfig defaults;
    Options o(defaults);
    const auto with_default = [](const char* what, const auto& value) {
        return fmt::format("{} (default {})", what, value);
    };
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("threads,n", po::value(&o.threads)->value_name("N"), with_default("connection threads to spawn", defaults.threads).c_str())
        ("stack,s", po::value(&o.stack)->value_name("SIZE"), "pthread stack size: 16k, 64k, 1m, 8MiB or 'default' (default: default)")
        ("request", po::value(&o.request)->value_name("N"), with_default("each thread asks the server for fib(N)", defaults.request_n).c_str())
        ("touch", po::value(&o.touch)->value_name("BYTES"), with_default("stack each thread dirties while it holds", defaults.touch_bytes).c_str())
        ("hold", po::value(&o.hold)->value_name("DURATION"), with_default("how long every connection is held and sampled", tp::describe(o.hold)).c_str())
        ("interval", po::value(&o.interval)->value_name("DURATION"), with_default("sampling interval", tp::describe(o.interval)).c_str())
        ("baseline", po::value(&o.baseline)->value_name("DURATION"), with_default("sampling before any thread is spawned", tp::describe(o.baseline)).c_str())
        ("ramp-timeout", po::value(&o.ramp_timeout)->value_name("DURATION"), with_default("give up on connections unanswered after this", tp::describe(o.ramp_timeout)).c_str())
        ("cpuset", po::value(&o.cpuset)->value_name("LIST"), "bind the connection threads to these PUs (hwloc list: 0-1,3)")
        ("connect", po::value(&o.connect)->value_name("HOST:PORT"), "use a running server instead of starting one")
        ("server-pid", po::value(&o.server_pid)->value_name("PID"), "with --connect: sample that server's memory too")
        ("pid", po::value(&o.pid)->value_name("PID"), "inspect this running process's threads instead (read from /proc only; no thread is spawned)")
        ("watch", po::value(&o.watch)->value_name("DURATION"), "with --pid: sample it for this long, every --interval (default 1s)");
    // clang-format on
    tp::add_openmetrics_option(options, o.openmetrics,
                               "with --pid: write its figures for node_exporter's textfile "
                               "collector (with --watch, rewritten at every interval)");
    tp::add_margin_options(options, o.margin);
    tp::add_output_options(options, o.output,
                           "write results as JSON (context, config, samples, summary)",
                           "write the samples as CSV");
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("threadprobe",
                                                 "[--threads N] [--stack SIZE] [options] | --pid "
                                                 "PID [--watch DURATION] [--openmetrics FILE]",
                                                 options, argc, argv, vm))
        return *done;
    if (vm.count("pid")) {
        const tp::LiveProcessConfig live = live_config(o, vm);
        tp::ResultOutputs outputs(o.output);
        std::optional<tp::MetricsFile> metrics;
        if (!o.openmetrics.empty()) metrics.emplace(o.openmetrics);
        tp::StopSignal stop;
        const tp::LiveProcessResult result = [&] {
            const tp::TerminalProgress progress(o.output.quiet);
            tp::LiveSampleFn rewrite;
            if (metrics)
                rewrite = [&](const tp::LiveProcessResult& now) {
                    metrics->write(tp::to_openmetrics(now));
                };
            return tp::inspect_live_process(live, stop, progress.fn(), rewrite);
        }();
        outputs.write(tp::to_json(result), tp::to_table(result), tp::to_csv(result));
        if (metrics) metrics->write(tp::to_openmetrics(result));
        if (result.stacks.incomplete)
            std::cerr << fmt::format("threadprobe: pid {}: incomplete: {}\n", live.pid,
                                     result.stacks.incomplete_why);
        return result.exit_code();
    }
    if (vm.count("openmetrics"))
        throw tp::option_error("openmetrics",
                               "only with --pid (a live process's figures, for its monitoring)");
    const tp::ThreadProbeConfig config = to_config(o, vm);

    tp::ResultOutputs outputs(o.output);
    tp::StopSignal stop;
    const tp::ThreadProbeResult result = [&] {
        const tp::TerminalProgress progress(o.output.quiet);
        return tp::run_threadprobe(config, stop, progress.fn());
    }();
    outputs.write(tp::to_json(result), tp::to_table(result), tp::to_csv(result));
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
