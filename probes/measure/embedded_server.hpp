// A fibserver started as a child on an ephemeral loopback port, for a probe or a test.
// It learns the port and pid from the server's readiness line, lives in its own process group
// (a terminal's Ctrl-C reaches the probe, which then stops the server in order), and dies with
// its parent (PR_SET_PDEATHSIG), so no server outlives the probe that started it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net.hpp"
#include "subprocess.hpp"

namespace tp {

// The fibserver a probe starts to measure, and the one place its command line is built. It
// listens on an ephemeral loopback port, with room for the probe's `connections` at once beyond
// the probe's own checks and no idle timeout, since a probe's connections hold idle by design:
// a measurement is then refused or cut short by the machine's limits, not the server's.
struct FibserverLaunch {
    // Each with its default, so that a designated initializer names only what it sets.
    std::string binary{};  // usually sibling_program("fibserver")
    std::string model = "threads";
    std::optional<std::uint64_t> stack{};  // --stack in bytes; fibserver's default without
    std::optional<std::uint64_t> workers{};
    std::optional<std::uint64_t> threshold{};
    std::optional<std::chrono::nanoseconds> switch_interval{};
    std::uint64_t connections = 0;
    // Set for the article's Python server: `binary` is python3 and this its script; `model`
    // is "python:MODEL". It takes --workers and --threshold and none of fibserver's others.
    std::string python_script{};

    std::vector<std::string> args() const;
};

class EmbeddedServer {
  public:
    // Starts `binary args...`; waits up to `ready_timeout` for the readiness line
    // "fibserver: listening on HOST:PORT model=M pid=P". Throws std::runtime_error carrying
    // the server's own last words if it exits or stays silent, std::system_error if it
    // cannot be run at all.
    static EmbeddedServer start(const std::string& binary, const std::vector<std::string>& args,
                                std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
    static EmbeddedServer start(const FibserverLaunch& launch,
                                std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

    EmbeddedServer(EmbeddedServer&& other) noexcept = default;
    EmbeddedServer& operator=(EmbeddedServer&&) = delete;
    ~EmbeddedServer();  // stop()s a server still running

    const Endpoint& endpoint() const { return endpoint_; }
    pid_t pid() const { return process_.pid(); }
    const std::string& model() const { return model_; }

    // True while the child runs; reaps it (and remembers how it ended) once it has exited.
    bool alive() { return process_.running(); }
    // How it ended, once it has: "exited with status 1", "killed by signal 9 (Killed)".
    std::string how_it_ended() const { return process_.how_it_ended(); }
    // The end of what the server wrote to stderr: its explanation when it failed.
    std::string stderr_tail() const { return process_.tail(Stream::err); }
    // SIGTERM, then SIGKILL after `grace`; returns the exit status, or 128 + signal.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

  private:
    EmbeddedServer(Subprocess process, Endpoint endpoint, std::string model);

    Subprocess process_;
    Endpoint endpoint_;
    std::string model_;
};

// The program `name` beside the running program (build/bin/fibserver).
std::string sibling_program(const std::string& name);

// Parses the readiness line; false if it is not one.
struct ReadinessLine {
    Endpoint endpoint;
    std::string model;
    pid_t pid = -1;
};
bool parse_readiness_line(const std::string& line, ReadinessLine& out);

}  // namespace tp
