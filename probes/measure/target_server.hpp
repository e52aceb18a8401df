// The server a probe talks to, in the forms it takes along a run: where it comes from (decided
// from the options: a running one, or a fibserver to start), the server itself while the probe
// uses it (owning the child when the probe started it), and who it was, for the results.
// The command-line block is ServerOptions (probe_server_options.hpp); the child process is
// EmbeddedServer.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "embedded_server.hpp"
#include "net.hpp"

namespace tp {

// A server someone else started (--connect): the article's Python server works too.
struct RunningServer {
    Endpoint endpoint;
    std::optional<pid_t> pid;  // where the user named it (--server-pid)
};

// Where a probe's server comes from.
using ServerSource = std::variant<RunningServer, FibserverLaunch>;

// Who the server was: what a result records of it.
struct ServerIdentity {
    Endpoint endpoint;
    std::optional<pid_t> pid;
    std::string model = "unknown";  // from the readiness line; unknown for a running server
    bool embedded = false;

    // "127.0.0.1:41237 model=threads pid=1234 (embedded)", "127.0.0.1:25000 (running)".
    std::string description() const;
};
// {"endpoint": "HOST:PORT", "pid": PID or null, "model", "embedded"}.
nlohmann::json to_json(const ServerIdentity& s);
// The same back; throws nlohmann::json::exception or std::invalid_argument if it is not one.
void from_json(const nlohmann::json& j, ServerIdentity& s);

// The server while a probe talks to it: started here (and stopped when this goes), or running.
class ServerHandle {
  public:
    // Starts the fibserver or takes the running one; throws what EmbeddedServer::start throws.
    explicit ServerHandle(const ServerSource& source);

    const ServerIdentity& identity() const { return identity_; }
    const Endpoint& endpoint() const { return identity_.endpoint; }
    std::string description() const { return identity_.description(); }
    // The child, when this probe started it.
    std::optional<EmbeddedServer>& embedded() { return embedded_; }
    // Stops and reaps a server started here (its CPU time, and its workers', then counts as
    // the probe's own); a running one is left alone.
    void stop() {
        if (embedded_) embedded_->stop();
    }

  private:
    ServerIdentity identity_;
    std::optional<EmbeddedServer> embedded_;
};

}  // namespace tp
