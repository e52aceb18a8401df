// limitprobe: how many threads this machine allows per stack size, and which limit fired.
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "cli.hpp"
#include "embedded_server.hpp"
#include "limitprobe.hpp"
#include "output_file.hpp"
#include "progress.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"

namespace {

using namespace std::chrono_literals;

struct Options {
    tp::StackSizeList stacks{{tp::StackSize{16 * 1024}, tp::StackSize{64 * 1024}, tp::StackSize{}}};
    bool connections = false;
    tp::Count max{1'000'000};
    tp::Count mem_floor{10};
    tp::Duration time_limit{120s};
    std::string json_path;
    bool quiet = false;
};

tp::LimitProbeConfig to_config(const Options& o) {
    tp::LimitProbeConfig c;
    for (const auto& s : o.stacks.sizes) c.stacks.push_back(tp::thread_stack_for(s, "limitprobe"));
    tp::require_range("max", o.max.value, 1, 10'000'000);
    tp::require_range("mem-floor", o.mem_floor.value, 1, 90);
    if (o.time_limit.value < 1s) throw tp::UsageError("option '--time-limit': at least 1s");
    c.connections = o.connections;
    c.max_threads = o.max.value;
    c.mem_floor_percent = static_cast<double>(o.mem_floor.value);
    c.time_limit = o.time_limit.value;
    if (c.connections) c.server_binary = tp::sibling_program("fibserver");
    return c;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    Options o;
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("stack,s", po::value(&o.stacks)->value_name("SIZES"), "stack sizes to try, comma-separated (default 16k,64k,default)")
        ("connections", po::bool_switch(&o.connections), "each thread also holds a loopback connection to a fibserver")
        ("max", po::value(&o.max)->value_name("N"), "stop at N threads (default 1000000)")
        ("mem-floor", po::value(&o.mem_floor)->value_name("PERCENT"), "stop before MemAvailable falls below this share of memory (default 10)")
        ("time-limit", po::value(&o.time_limit)->value_name("DURATION"), "give up on one stack size after this (default 120s)")
        ("json", po::value(&o.json_path)->value_name("FILE"), "write results as JSON")
        ("quiet,q", po::bool_switch(&o.quiet), "no table on stdout, no progress");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "limitprobe", "[--stack SIZES] [--connections] [options]", options, argc, argv, vm))
        return *done;
    const tp::LimitProbeConfig config = to_config(o);

    std::optional<tp::OutputFile> json_file;
    if (!o.json_path.empty()) json_file.emplace(o.json_path);

    tp::StopSignal stop;
    const tp::LimitProbeResult result = [&] {
        const tp::TerminalProgress progress(o.quiet);
        return tp::run_limitprobe(config, stop, progress.fn());
    }();
    if (json_file) json_file->commit(tp::to_json(result).dump(2) + "\n");
    if (!o.quiet) std::cout << tp::to_table(result) << std::flush;
    if (result.server_died)
        std::cerr << fmt::format("limitprobe: the server died mid-run: {}\n", *result.server_died);
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("limitprobe", [&] { return run(argc, argv); });
}
