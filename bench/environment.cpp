#include "environment.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "procfs.hpp"

namespace tp::bench {

EmbeddedServer start_server(const Environment& env, const std::string& model,
                            std::uint64_t connections, std::optional<std::uint64_t> stack) {
    return EmbeddedServer::start(FibserverLaunch{.binary = env.program("fibserver"),
                                                 .model = model,
                                                 .stack = stack,
                                                 .connections = connections});
}

std::string endpoint_text(const Endpoint& e) {
    return fmt::format("{}:{}", e.host, e.port);
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(fmt::format("{} is not JSON: {}", path.string(), e.what()));
    }
}

nlohmann::json parse_json_line(const std::string& text, const std::string& program) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        throw std::runtime_error(fmt::format("{} printed '{}', not one JSON line", program, text));
    }
}

std::optional<std::uint64_t> listen_overflows() {
    const auto text = read_small_file("/proc/net/netstat");
    if (!text) return std::nullopt;
    // Two "TcpExt:" lines: the names, then the values in the same order.
    std::istringstream in(*text);
    std::string names, values;
    while (std::getline(in, names)) {
        if (names.rfind("TcpExt:", 0) != 0) continue;
        if (!std::getline(in, values)) return std::nullopt;
        std::istringstream n(names), v(values);
        std::string name, value;
        while (n >> name && v >> value)
            if (name == "ListenOverflows") return std::stoull(value);
        return std::nullopt;
    }
    return std::nullopt;
}

std::string duration_arg(std::chrono::nanoseconds d) {
    return fmt::format("{}ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace tp::bench
