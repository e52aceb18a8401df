#include "probe_server_options.hpp"

#include <fmt/format.h>

#include "embedded_server.hpp"
#include "model_kind.hpp"
#include "units.hpp"

namespace tp {

void add_server_options(po::options_description& options, ServerOptions& o) {
    // clang-format off
    options.add_options()
        ("connect", po::value(&o.connect)->value_name("HOST:PORT"), "use a running server (the article's own works) instead of starting one")
        ("server-model", po::value(&o.model)->value_name("MODEL"), ("embedded fibserver's model: " + model_names() + " (default threads)").c_str())
        ("workers", po::value(&o.workers)->value_name("N"), "passed to the embedded fibserver")
        ("threshold", po::value(&o.threshold)->value_name("N"), "passed to the embedded fibserver")
        ("switch-interval", po::value(&o.switch_interval)->value_name("DURATION"), "passed to the embedded fibserver (gil)")
        ("server-stack", po::value(&o.stack)->value_name("SIZE"), "passed to the embedded fibserver as --stack");
    // clang-format on
}

ServerChoice server_choice(const ServerOptions& o, const po::variables_map& vm,
                           std::uint64_t connections) {
    ServerChoice c;
    if (!o.connect.empty()) {
        try {
            c.connect = parse_endpoint(o.connect);
        } catch (const std::invalid_argument& e) {
            throw UsageError(fmt::format("option '--connect': {}", e.what()));
        }
        for (const char* flag :
             {"server-model", "workers", "threshold", "switch-interval", "server-stack"})
            if (vm.count(flag))
                throw UsageError(fmt::format(
                    "option '--{}': only for an embedded server, not with --connect", flag));
        return c;
    }
    if (!parse_model(o.model))
        throw UsageError(fmt::format("option '--server-model': unknown model '{}' (choose {})",
                                     o.model, model_names()));
    c.model = o.model;
    // fibserver checks the values and names the flag; the probe forwards them as given.
    if (vm.count("workers")) {
        if (o.workers.value == 0) throw UsageError("option '--workers': must be at least 1");
        c.extra_args.insert(c.extra_args.end(), {"--workers", std::to_string(o.workers.value)});
    }
    if (vm.count("threshold"))
        c.extra_args.insert(c.extra_args.end(), {"--threshold", std::to_string(o.threshold.value)});
    if (vm.count("switch-interval")) {
        if (o.switch_interval.value <= std::chrono::nanoseconds::zero())
            throw UsageError("option '--switch-interval': must be above 0");
        c.extra_args.insert(
            c.extra_args.end(),
            {"--switch-interval", fmt::format("{}ns", o.switch_interval.value.count())});
    }
    if (vm.count("server-stack") && o.stack.bytes)
        c.extra_args.insert(c.extra_args.end(), {"--stack", std::to_string(*o.stack.bytes)});
    const std::vector<std::string> limits = measurement_server_limits(connections);
    c.extra_args.insert(c.extra_args.end(), limits.begin(), limits.end());
    c.binary = sibling_program("fibserver");
    return c;
}

}  // namespace tp
