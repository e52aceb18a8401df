// limitprobe: how many threads this machine allows per stack size, and which limit fired.
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "cli.hpp"
#include "embedded_server.hpp"
#include "limitprobe.hpp"
#include "limitprobe_metrics.hpp"
#include "margin_options.hpp"
#include "metrics_file.hpp"
#include "progress.hpp"
#include "result_outputs.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"

namespace {

using namespace std::chrono_literals;

// The command line's values, each starting at LimitProbeConfig's default (the stack sizes at the
// three the article's claims need): --help shows them from here.
struct Options {
    explicit Options(const tp::LimitProbeConfig& d)
        : max{d.max_threads},
          mem_floor{static_cast<std::uint64_t>(d.mem_floor_percent)},
          time_limit{d.time_limit} {}

    tp::StackSizeList stacks{{tp::StackSize{16 * 1024}, tp::StackSize{64 * 1024}, tp::StackSize{}}};
    bool connections = false;
    tp::Count max;
    tp::Count mem_floor;
    tp::Duration time_limit;
    bool forecast = false;
    tp::Count pid;
    bool pid_given = false;
    std::string openmetrics;
    tp::MarginOptions margin;
    tp::OutputOptions output;
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
    c.forecast_only = o.forecast;
    if (o.pid_given) {
        if (!o.forecast)
            throw tp::option_error("pid",
                                   "only with --forecast (the search makes its threads in "
                                   "limitprobe's own child)");
        c.pid = static_cast<pid_t>(tp::require_range("pid", o.pid.value, 1, 4'194'304));
    }
    if (!o.openmetrics.empty() && !o.forecast)
        throw tp::option_error("openmetrics",
                               "only with --forecast (a search's figures are not a host's "
                               "standing state)");
    if (o.forecast && o.margin.to_the_limit)
        throw tp::option_error("to-the-limit",
                               "a forecast makes no more threads than its sample; "
                               "--to-the-limit is for the search");
    if (!o.forecast) c.margin = tp::margin_for(o.margin, tp::ProcFs{}, "limitprobe");
    if (c.connections) c.server_binary = tp::sibling_program("fibserver");
    return c;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    const tp::LimitProbeConfig defaults;
    Options o(defaults);
    const auto with_default = [](const char* what, const auto& value) {
        return fmt::format("{} (default {})", what, value);
    };
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("stack,s", po::value(&o.stacks)->value_name("SIZES"), with_default("stack sizes to try, comma-separated", tp::describe(o.stacks)).c_str())
        ("forecast", po::bool_switch(&o.forecast), "forecast every limit from a sample of threads; no search")
        ("pid", po::value(&o.pid)->value_name("PID"), "with --forecast: forecast for this process's limits (default: limitprobe's own)")
        ("connections", po::bool_switch(&o.connections), "each thread also holds a loopback connection to a fibserver")
        ("max", po::value(&o.max)->value_name("N"), with_default("stop at N threads", defaults.max_threads).c_str())
        ("mem-floor", po::value(&o.mem_floor)->value_name("PERCENT"), with_default("stop before MemAvailable falls below this share of memory", o.mem_floor.value).c_str())
        ("time-limit", po::value(&o.time_limit)->value_name("DURATION"), with_default("give up on one stack size after this", tp::describe(o.time_limit)).c_str());
    // clang-format on
    tp::add_openmetrics_option(options, o.openmetrics,
                               "with --forecast: write the forecast for node_exporter's "
                               "textfile collector");
    tp::add_margin_options(options, o.margin);
    tp::add_output_options(options, o.output, "write results as JSON");
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("limitprobe",
                                                 "[--forecast [--pid PID] [--openmetrics FILE]] "
                                                 "[--stack SIZES] [--connections] [options]",
                                                 options, argc, argv, vm))
        return *done;
    o.pid_given = vm.count("pid") > 0;
    const tp::LimitProbeConfig config = to_config(o);

    tp::ResultOutputs outputs(o.output);
    std::optional<tp::MetricsFile> metrics;
    if (!o.openmetrics.empty()) metrics.emplace(o.openmetrics);
    tp::StopSignal stop;
    const tp::LimitProbeResult result = [&] {
        const tp::TerminalProgress progress(o.output.quiet);
        return tp::run_limitprobe(config, stop, progress.fn());
    }();
    outputs.write(tp::to_json(result), tp::to_table(result));
    if (metrics) metrics->write(tp::to_openmetrics(result));
    if (result.server_died)
        std::cerr << fmt::format("limitprobe: the server died mid-run: {}\n", *result.server_died);
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("limitprobe", [&] { return run(argc, argv); });
}
