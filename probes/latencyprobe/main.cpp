// latencyprobe: the article's perf1, per-request latency of K clients repeating fib(n).
#include <fmt/format.h>

#include "cli.hpp"
#include "fib.hpp"
#include "latencyprobe.hpp"
#include "probe_server_options.hpp"
#include "progress.hpp"
#include "result_outputs.hpp"
#include "stop_signal.hpp"

namespace {

// The command line's values, each starting at LatencyProbeConfig's default.
struct Options {
    explicit Options(const tp::LatencyProbeConfig& d) : clients{d.clients}, n{d.n} {}

    tp::Count clients;
    tp::Count n;
    tp::Count count{};
    tp::Duration duration{};
    std::string placement = "free";
    tp::ServerOptions server;
    tp::OutputOptions output;
};

int run(int argc, char** argv) {
    namespace po = tp::po;
    const tp::LatencyProbeConfig defaults;
    Options o(defaults);
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("clients,k", po::value(&o.clients)->value_name("K"), fmt::format("clients, each on its own connection (default {})", defaults.clients).c_str())
        ("n", po::value(&o.n)->value_name("N"), fmt::format("each request asks for fib(N) (default {}, as perf1.py)", defaults.n).c_str())
        ("count,c", po::value(&o.count)->value_name("C"), fmt::format("requests per client (default {})", tp::LatencyProbeConfig::kDefaultCount).c_str())
        ("duration,d", po::value(&o.duration)->value_name("DURATION"), "or repeat for this long")
        ("placement", po::value(&o.placement)->value_name("free|one-pu"), "free (default): wherever the scheduler puts the clients and the server, as perf1.py runs; one-pu: one client and the server it started on the PU computing fastest at the start (a host that slows one PU for seconds at a time otherwise decides one client's latency)");
    // clang-format on
    tp::add_output_options(options, o.output, "write results as JSON");
    tp::add_server_options(options, o.server);
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "latencyprobe", "--clients K --n N (--count C | --duration D) [options]", options, argc,
            argv, vm))
        return *done;

    tp::LatencyProbeConfig config;
    tp::require_range("clients", o.clients.value, 1, 1000);
    tp::require_range("n", o.n.value, 0, tp::kFibMaxN);
    config.clients = static_cast<unsigned>(o.clients.value);
    config.n = static_cast<unsigned>(o.n.value);
    if (vm.count("count") && vm.count("duration"))
        throw tp::UsageError("option '--count': give --count or --duration, not both");
    if (vm.count("count")) {
        tp::require_range("count", o.count.value, 1, 100'000'000);
        config.count = o.count.value;
    } else if (vm.count("duration")) {
        if (o.duration.value <= std::chrono::nanoseconds::zero())
            throw tp::UsageError("option '--duration': must be above 0");
        config.duration = o.duration.value;
    } else {
        config.count = tp::LatencyProbeConfig::kDefaultCount;
    }
    config.placement = tp::parse_placement_option(o.placement);
    if (config.placement == tp::Placement::one_pu && config.clients > 1)
        throw tp::UsageError(
            "option '--placement': one-pu takes one client (two on one PU cannot run in "
            "parallel)");
    config.server = tp::server_source(o.server, vm, config.clients);

    tp::ResultOutputs outputs(o.output);
    tp::StopSignal stop;
    const tp::LatencyProbeResult result = [&] {
        const tp::TerminalProgress progress(o.output.quiet);
        return tp::run_latencyprobe(config, stop, progress.fn());
    }();
    outputs.write(tp::to_json(result), tp::to_table(result));
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("latencyprobe", [&] { return run(argc, argv); });
}
