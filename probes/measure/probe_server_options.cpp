#include "probe_server_options.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "model_kind.hpp"
#include "python_server.hpp"
#include "units.hpp"

namespace tp {

void add_server_options(po::options_description& options, ServerOptions& o) {
    // clang-format off
    options.add_options()
        ("connect", po::value(&o.connect)->value_name("HOST:PORT"), "use a running server (the article's own works) instead of starting one")
        ("server-model", po::value(&o.model)->value_name("MODEL"), ("embedded fibserver's model: " + model_names() + " (default threads); or python:MODEL, the article's Python server under python3 (" + python_model_names() + ")").c_str())
        ("workers", po::value(&o.workers)->value_name("N"), "passed to the embedded fibserver")
        ("threshold", po::value(&o.threshold)->value_name("N"), "passed to the embedded fibserver")
        ("switch-interval", po::value(&o.switch_interval)->value_name("DURATION"), "passed to the embedded fibserver (gil)")
        ("server-stack", po::value(&o.stack)->value_name("SIZE"), "passed to the embedded fibserver as --stack");
    // clang-format on
}

ServerSource server_source(const ServerOptions& o, const po::variables_map& vm,
                           std::uint64_t connections) {
    if (!o.connect.empty()) {
        const Endpoint endpoint =
            parse_option("connect", [&] { return parse_endpoint(o.connect); });
        for (const char* flag :
             {"server-model", "workers", "threshold", "switch-interval", "server-stack"})
            if (vm.count(flag))
                throw option_error(flag, "only for an embedded server, not with --connect");
        return RunningServer{endpoint, std::nullopt};
    }
    FibserverLaunch launch;
    if (const auto python = python_model(o.model)) {
        if (!is_python_model_name(*python))
            throw option_error("server-model",
                               fmt::format("the Python server has no model '{}' (choose {})",
                                           *python, python_model_names()));
        for (const char* flag : {"switch-interval", "server-stack"})
            if (vm.count(flag))
                throw option_error(flag, "only for fibserver's models, not the Python server");
        // Not usage errors: the machine lacks them.
        const auto python3 = find_on_path("python3");
        if (!python3) throw std::runtime_error("--server-model python:...: no python3 on PATH");
        const auto script = python_server_script();
        if (!script)
            throw std::runtime_error(
                "--server-model python:...: server/python/fibserver.py is neither installed "
                "(share/threadprobe/python) nor in the source tree this was built from");
        launch.binary = *python3;
        launch.python_script = *script;
    } else if (!parse_model(o.model)) {
        throw option_error("server-model",
                           fmt::format("unknown model '{}' (choose {})", o.model, model_names()));
    } else {
        launch.binary = sibling_program("fibserver");
    }
    launch.model = o.model;
    launch.connections = connections;
    // fibserver checks the values and names the flag; the probe forwards them as given.
    if (vm.count("workers")) {
        if (o.workers.value == 0) throw option_error("workers", "must be at least 1");
        launch.workers = o.workers.value;
    }
    if (vm.count("threshold")) launch.threshold = o.threshold.value;
    if (vm.count("switch-interval")) {
        if (o.switch_interval.value <= std::chrono::nanoseconds::zero())
            throw option_error("switch-interval", "must be above 0");
        launch.switch_interval = o.switch_interval.value;
    }
    if (vm.count("server-stack")) launch.stack = o.stack.bytes;
    return launch;
}

}  // namespace tp
