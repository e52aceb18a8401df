// rateprobe: the article's perf2, tiny requests per second, with a long one thrown in.
#include <fmt/format.h>

#include <iostream>

#include "cli.hpp"
#include "probe_server_options.hpp"
#include "rateprobe.hpp"
#include "result_outputs.hpp"
#include "stop_signal.hpp"

namespace {

using namespace std::chrono_literals;

// The command line's values, each starting at RateProbeConfig's default.
struct Options {
    explicit Options(const tp::RateProbeConfig& d)
        : duration{d.duration}, connections{d.connections} {}

    tp::Duration duration;
    std::string interfere;
    std::string placement = "one-pu";
    bool sigint = false;
    tp::Count connections;
    tp::ServerOptions server;
    tp::OutputOptions output;
};

int run(int argc, char** argv) {
    namespace po = tp::po;
    const tp::RateProbeConfig defaults;
    Options o(defaults);
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("duration,d", po::value(&o.duration)->value_name("DURATION"), fmt::format("how long to measure (default {})", tp::describe(o.duration)).c_str())
        ("interfere", po::value(&o.interfere)->value_name("N@T"), "a second connection asks for fib(N) at time T, e.g. 40@2s; spam:N@T sends the article's uninterruptible instruction instead ('spam' in range(N)), e.g. spam:30000000@1s")
        ("sigint", po::bool_switch(&o.sigint), "after the run, the server started here gets SIGINT while the long request (--interfere) runs again, timed until it has stopped: the article's Ctrl-C that waits for an uninterruptible instruction")
        ("connections", po::value(&o.connections)->value_name("K"), fmt::format("connections sending tiny requests (default {})", defaults.connections).c_str())
        ("placement", po::value(&o.placement)->value_name("one-pu|free"), "one-pu (default): the probe and the server it started share one PU, the one computing fastest at the start, the steadiest ping-pong, and the task computing fib(N) gets the other PUs while it runs; free: wherever the scheduler puts them");
    // clang-format on
    tp::add_output_options(options, o.output, "write results as JSON", {},
                           "no per-second lines or summary on stdout");
    tp::add_server_options(options, o.server);
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "rateprobe", "--duration D [--interfere N@T|spam:N@T] [--connections K] [options]",
            options, argc, argv, vm))
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
    if (o.sigint && !vm.count("interfere"))
        throw tp::UsageError("option '--sigint': needs --interfere (the request it interrupts)");
    if (o.sigint && (vm.count("connect") || vm.count("server-pid")))
        throw tp::UsageError(
            "option '--sigint': only for a server rateprobe starts, not --connect");
    config.time_interrupt = o.sigint;
    config.placement = tp::parse_placement_option(o.placement);
    // The rate connections and the interfering one.
    config.server = tp::server_source(o.server, vm, config.connections + 1);

    tp::ResultOutputs outputs(o.output);
    tp::StopSignal stop;
    const tp::RateProbeResult result =
        tp::run_rateprobe(config, stop, [&outputs](std::string_view line) {
            if (!outputs.quiet()) std::cout << line << std::flush;
        });
    outputs.write(tp::to_json(result), tp::to_table(result));
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("rateprobe", [&] { return run(argc, argv); });
}
