// A fibserver started as a child on an ephemeral loopback port, for a probe or a test.
// It learns the port and pid from the server's readiness line, lives in its own process group
// (a terminal's Ctrl-C reaches the probe, which then stops the server in order), and dies with
// its parent (PR_SET_PDEATHSIG), so no server outlives the probe that started it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "net.hpp"

namespace tp {

class EmbeddedServer {
  public:
    // Starts `binary args...`; waits up to `ready_timeout` for the readiness line
    // "fibserver: listening on HOST:PORT model=M pid=P". Throws std::runtime_error carrying
    // the server's own last words if it exits or stays silent.
    static EmbeddedServer start(const std::string& binary, const std::vector<std::string>& args,
                                std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

    EmbeddedServer(EmbeddedServer&& other) noexcept;
    EmbeddedServer& operator=(EmbeddedServer&&) = delete;
    EmbeddedServer(const EmbeddedServer&) = delete;
    EmbeddedServer& operator=(const EmbeddedServer&) = delete;
    ~EmbeddedServer();

    const Endpoint& endpoint() const { return endpoint_; }
    pid_t pid() const { return pid_; }
    const std::string& model() const { return model_; }

    // True while the child runs; reaps it (and remembers how it ended) once it has exited.
    bool alive();
    // How it ended, once it has: "exited with status 1", "killed by signal 9".
    std::string how_it_ended() const;
    // The end of what the server wrote to stderr: its explanation when it failed.
    std::string stderr_tail() const;
    // SIGTERM, then SIGKILL after `grace`; returns the exit status, or 128 + signal.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

  private:
    EmbeddedServer() = default;

    pid_t pid_ = -1;
    int wait_status_ = 0;
    bool reaped_ = true;
    Endpoint endpoint_;
    std::string model_;
    Fd stdout_;
    Fd stderr_;  // a memory file holding what the server wrote to stderr
};

// fibserver options for a server a probe starts to measure: room for `connections` at once
// beyond the probe's own checks, and no idle timeout, since a probe's connections hold idle by
// design. Without them a measurement could be refused or cut short by the server's safety
// limits instead of by the machine's.
std::vector<std::string> measurement_server_limits(std::uint64_t connections);

// The fibserver binary beside the running program (build/bin/fibserver).
std::string sibling_program(const std::string& name);

// Parses the readiness line; false if it is not one.
struct ReadinessLine {
    Endpoint endpoint;
    std::string model;
    pid_t pid = -1;
};
bool parse_readiness_line(const std::string& line, ReadinessLine& out);

}  // namespace tp
