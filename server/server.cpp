#include "server.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <utility>

#include "model.hpp"

namespace tp {
std::unique_ptr<Model> make_model(const ServerConfig& config) {
    switch (config.model) {
        case ModelKind::iterative:
            return make_iterative_model(config);
        case ModelKind::threads:
            return make_threads_model(config);
        case ModelKind::gil:
            return make_gil_model(config);
        case ModelKind::pool:
        case ModelKind::threshold:
            return make_pool_model(config);
        case ModelKind::prefork:
            return make_prefork_model(config);
        case ModelKind::epoll:
            return make_epoll_model(config);
    }
    throw std::invalid_argument("unknown model");
}

std::string too_many_connections_line(std::uint64_t max_connections) {
    return fmt::format("error: too many connections (max {})\n", max_connections);
}

Server::Server(ServerConfig config) : config_(std::move(config)) {
    listener_ = listen_tcp(config_.bind, config_.port, config_.backlog);
    endpoint_ = {config_.bind, local_port(listener_.get())};
}

std::string Server::readiness_line() const {
    return fmt::format("fibserver: listening on {}:{} model={} pid={}", endpoint_.host,
                       endpoint_.port, model_name(config_.model), ::getpid());
}

ServeSummary Server::run(int stop_fd) {
    return make_model(config_)->serve(listener_.get(), stop_fd);
}

}  // namespace tp
