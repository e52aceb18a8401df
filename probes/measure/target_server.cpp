#include "target_server.hpp"

#include <fmt/format.h>

namespace tp {
namespace {

std::string endpoint_text(const Endpoint& e) {
    return fmt::format("{}:{}", e.host, e.port);
}

}  // namespace

std::string ServerIdentity::description() const {
    const std::string pid_text = pid ? fmt::format(" pid={}", *pid) : "";
    if (!embedded) return fmt::format("{}{} (running)", endpoint_text(endpoint), pid_text);
    return fmt::format("{} model={}{} (embedded)", endpoint_text(endpoint), model, pid_text);
}

nlohmann::json to_json(const ServerIdentity& s) {
    return {{"endpoint", endpoint_text(s.endpoint)},
            {"pid", s.pid ? nlohmann::json(*s.pid) : nlohmann::json(nullptr)},
            {"model", s.model},
            {"embedded", s.embedded}};
}

void from_json(const nlohmann::json& j, ServerIdentity& s) {
    s.endpoint = parse_endpoint(j.at("endpoint").get<std::string>());
    const nlohmann::json& pid = j.at("pid");
    s.pid = pid.is_null() ? std::nullopt : std::optional<pid_t>(pid.get<pid_t>());
    s.model = j.at("model").get<std::string>();
    s.embedded = j.at("embedded").get<bool>();
}

ServerHandle::ServerHandle(const ServerSource& source) {
    if (const auto* running = std::get_if<RunningServer>(&source)) {
        identity_ = {running->endpoint, running->pid, "unknown", false};
        return;
    }
    embedded_.emplace(EmbeddedServer::start(std::get<FibserverLaunch>(source)));
    identity_ = {embedded_->endpoint(), embedded_->pid(), embedded_->model(), true};
}

}  // namespace tp
