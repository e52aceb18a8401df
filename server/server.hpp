// fibserver as a library: the configuration, a listening server, and the readiness line the
// probes read. fibserver.cpp turns the command line into a ServerConfig; tests and probes run
// the real binary rather than this class, so what they measure is what users run.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "model_kind.hpp"
#include "net.hpp"

namespace tp {

struct ServerConfig {
    ModelKind model = ModelKind::threads;
    ConnectionSettings connection;
    // Connection thread stack size in bytes, page-aligned; empty = glibc's default (the
    // RLIMIT_STACK soft limit, usually 8 MiB), which is also what a Python thread gets.
    std::optional<std::size_t> thread_stack;
    // pool, threshold, prefork, epoll (with threshold): worker processes; 0 = one per core.
    unsigned workers = 0;
    // threshold, epoll: n above this goes to the pool; below, computed inline.
    std::optional<unsigned> threshold;
    // gil: how long a waiting thread lets the holder run before asking it to drop the lock.
    std::chrono::nanoseconds switch_interval = std::chrono::milliseconds(5);
    std::string bind = "127.0.0.1";
    std::uint16_t port = 0;
    int backlog = 4096;
    // Client connections held open at once; one more gets "error: too many connections (max
    // N)" and is closed. iterative and prefork hold one per process by design (the next client
    // waits in the listen queue): prefork runs at most this many workers.
    std::uint64_t max_connections = kDefaultMaxConnections;

    static constexpr std::uint64_t kDefaultMaxConnections = 10000;
};

// What a run served, for the note printed when it stops.
struct ServeSummary {
    std::uint64_t accepted = 0;
    std::uint64_t thread_failures = 0;  // connections refused because no thread could be made
    std::uint64_t over_capacity = 0;    // connections refused by --max-connections
};

// The line a connection beyond --max-connections gets before it is closed.
std::string too_many_connections_line(std::uint64_t max_connections);

class Server {
  public:
    // Binds and listens. Throws std::system_error (address in use, ...) or
    // std::invalid_argument (bad address).
    explicit Server(ServerConfig config);

    const Endpoint& endpoint() const { return endpoint_; }
    // "fibserver: listening on 127.0.0.1:41237 model=threads pid=1234", without a newline.
    // The probes parse host:port, model and pid from it: keep the format.
    std::string readiness_line() const;

    // Serves until `stop_fd` becomes readable (it is not read here). A connection in progress
    // under the iterative model is dropped; connection threads are left to process exit.
    ServeSummary run(int stop_fd);

  private:
    ServerConfig config_;
    Fd listener_;
    Endpoint endpoint_;
};

}  // namespace tp
