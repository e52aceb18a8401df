// latencyprobe: the article's perf1, per-request latency of K clients repeating fib(n).
#include <iostream>

#include "cli.hpp"
#include "fib.hpp"
#include "latencyprobe.hpp"
#include "output_file.hpp"
#include "probe_server_options.hpp"
#include "progress.hpp"
#include "stop_signal.hpp"

namespace {

struct Options {
    tp::Count clients{1};
    tp::Count n{30};
    tp::Count count{};
    tp::Duration duration{};
    tp::ServerOptions server;
    std::string json_path;
    bool quiet = false;
};

int run(int argc, char** argv) {
    namespace po = tp::po;
    Options o;
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("clients,k", po::value(&o.clients)->value_name("K"), "clients, each on its own connection (default 1)")
        ("n", po::value(&o.n)->value_name("N"), "each request asks for fib(N) (default 30, as perf1.py)")
        ("count,c", po::value(&o.count)->value_name("C"), "requests per client (default 20)")
        ("duration,d", po::value(&o.duration)->value_name("DURATION"), "or repeat for this long")
        ("json", po::value(&o.json_path)->value_name("FILE"), "write results as JSON")
        ("quiet,q", po::bool_switch(&o.quiet), "no table on stdout, no progress");
    // clang-format on
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
        config.count = 20;
    }
    config.server = tp::server_source(o.server, vm, config.clients);

    std::optional<tp::OutputFile> json_file;
    if (!o.json_path.empty()) json_file.emplace(o.json_path);
    tp::StopSignal stop;
    const tp::LatencyProbeResult result = [&] {
        const tp::TerminalProgress progress(o.quiet);
        return tp::run_latencyprobe(config, stop, progress.fn());
    }();
    if (json_file) json_file->commit(tp::to_json(result).dump(2) + "\n");
    if (!o.quiet) std::cout << tp::to_table(result) << std::flush;
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("latencyprobe", [&] { return run(argc, argv); });
}
