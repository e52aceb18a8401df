#include "embedded_server.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <regex>
#include <stdexcept>
#include <system_error>

#include "python_server.hpp"

namespace tp {
namespace {

// The probe's own connections (checking the server answers) come on top of the measured ones.
constexpr std::uint64_t kProbeOwnConnections = 16;

}  // namespace

std::vector<std::string> FibserverLaunch::args() const {
    if (!python_script.empty()) {
        std::vector<std::string> out = {python_script, "--model", *python_model(model), "--port",
                                        "0",           "--bind",  "127.0.0.1"};
        if (workers) out.insert(out.end(), {"--workers", std::to_string(*workers)});
        if (threshold) out.insert(out.end(), {"--threshold", std::to_string(*threshold)});
        return out;
    }
    std::vector<std::string> out = {"--model", model, "--port", "0", "--bind", "127.0.0.1"};
    if (workers) out.insert(out.end(), {"--workers", std::to_string(*workers)});
    if (threshold) out.insert(out.end(), {"--threshold", std::to_string(*threshold)});
    if (switch_interval)
        out.insert(out.end(), {"--switch-interval", fmt::format("{}ns", switch_interval->count())});
    if (stack) out.insert(out.end(), {"--stack", std::to_string(*stack)});
    out.insert(out.end(), {"--max-connections", std::to_string(connections + kProbeOwnConnections),
                           "--idle-timeout", "none"});
    return out;
}

bool parse_readiness_line(const std::string& line, ReadinessLine& out) {
    static const std::regex pattern(
        R"(^fibserver: listening on ([0-9.]+):([0-9]+) model=(\S+) pid=([0-9]+)\s*$)");
    std::smatch m;
    if (!std::regex_match(line, m, pattern)) return false;
    try {
        out.endpoint = parse_endpoint(m[1].str() + ":" + m[2].str());
    } catch (const std::invalid_argument&) {
        return false;
    }
    out.model = m[3].str();
    out.pid = static_cast<pid_t>(std::stol(m[4].str()));
    return true;
}

std::string sibling_program(const std::string& name) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::system_error(ec, "cannot locate this program (/proc/self/exe)");
    return (self.parent_path() / name).string();
}

EmbeddedServer::EmbeddedServer(Subprocess process, Endpoint endpoint, std::string model)
    : process_(std::move(process)), endpoint_(std::move(endpoint)), model_(std::move(model)) {}

EmbeddedServer EmbeddedServer::start(const FibserverLaunch& launch,
                                     std::chrono::milliseconds ready_timeout) {
    return start(launch.binary, launch.args(), ready_timeout);
}

EmbeddedServer EmbeddedServer::start(const std::string& binary,
                                     const std::vector<std::string>& args,
                                     std::chrono::milliseconds ready_timeout) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    SubprocessOptions options;
    options.out = Capture::pipe;
    options.err = Capture::memory;
    options.own_process_group = true;
    options.parent_death_signal = SIGTERM;  // a clean stop, as from the probe itself
    Subprocess process(std::move(argv), options);

    const std::optional<std::string> line = process.read_line(ready_timeout);
    ReadinessLine ready;
    if (!line || !parse_readiness_line(*line, ready)) {
        // A server that closed its output is exiting: let it be reaped, to say how it ended.
        const bool was_alive = !process.wait_for(std::chrono::milliseconds(100));
        if (was_alive) process.stop(std::chrono::milliseconds(500));
        std::string said = process.tail(Stream::err);
        if (said.empty()) said = line.value_or("");
        throw std::runtime_error(
            fmt::format("fibserver did not become ready{}: {}",
                        was_alive ? fmt::format(" within {} ms", ready_timeout.count())
                                  : " (" + process.how_it_ended() + ")",
                        said.empty() ? "(it printed nothing)" : said));
    }
    return EmbeddedServer(std::move(process), ready.endpoint, ready.model);
}

EmbeddedServer::~EmbeddedServer() {
    if (alive()) stop();
}

int EmbeddedServer::stop(std::chrono::milliseconds grace) {
    if (alive()) return process_.stop(grace).exit_code();
    return process_.exit() ? process_.exit()->exit_code() : -1;
}

}  // namespace tp
