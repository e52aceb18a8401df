// rateprobe: the article's perf2, tiny requests per second, with a long one thrown in.
#include <iostream>

#include "cli.hpp"
#include "output_file.hpp"
#include "probe_server_options.hpp"
#include "rateprobe.hpp"
#include "stop_signal.hpp"

namespace {

using namespace std::chrono_literals;

struct Options {
    tp::Duration duration{5s};
    std::string interfere;
    tp::Count connections{1};
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
        ("duration,d", po::value(&o.duration)->value_name("DURATION"), "how long to measure (default 5s)")
        ("interfere", po::value(&o.interfere)->value_name("N@T"), "a second connection asks for fib(N) at time T, e.g. 40@2s")
        ("connections", po::value(&o.connections)->value_name("K"), "connections sending tiny requests (default 1)")
        ("json", po::value(&o.json_path)->value_name("FILE"), "write results as JSON")
        ("quiet,q", po::bool_switch(&o.quiet), "no per-second lines or summary on stdout");
    // clang-format on
    tp::add_server_options(options, o.server);
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "rateprobe", "--duration D [--interfere N@T] [--connections K] [options]", options,
            argc, argv, vm))
        return *done;

    tp::RateProbeConfig config;
    if (o.duration.value < 1s) throw tp::UsageError("option '--duration': at least 1s");
    config.duration = o.duration.value;
    tp::require_range("connections", o.connections.value, 1, 1000);
    config.connections = static_cast<unsigned>(o.connections.value);
    if (vm.count("interfere")) {
        config.interfere =
            tp::parse_option("interfere", [&] { return tp::parse_interference(o.interfere); });
        if (config.interfere->at >= config.duration)
            throw tp::UsageError("option '--interfere': T must fall inside --duration");
    }
    // The rate connections and the interfering one.
    config.server = tp::server_source(o.server, vm, config.connections + 1);

    std::optional<tp::OutputFile> json_file;
    if (!o.json_path.empty()) json_file.emplace(o.json_path);
    tp::StopSignal stop;
    const bool quiet = o.quiet;
    const tp::RateProbeResult result =
        tp::run_rateprobe(config, stop, [quiet](std::string_view line) {
            if (!quiet) std::cout << line << std::flush;
        });
    if (json_file) json_file->commit(tp::to_json(result).dump(2) + "\n");
    if (!quiet) std::cout << tp::to_table(result) << std::flush;
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("rateprobe", [&] { return run(argc, argv); });
}
