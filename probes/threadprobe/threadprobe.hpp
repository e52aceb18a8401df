// threadprobe's run: start (or find) the server, take a baseline, spawn N connection threads
// at the requested stack size, hold them while sampling, tear down, and compute what one more
// thread cost on each side. A failure mid-run ends the ramp, not the measurement.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection_threads.hpp"
#include "context.hpp"
#include "forecast.hpp"
#include "limits.hpp"
#include "net.hpp"
#include "progress.hpp"
#include "sampler.hpp"
#include "summary.hpp"

namespace tp {

class StopSignal;

struct ThreadProbeConfig {
    std::uint64_t threads = 1000;
    std::optional<std::uint64_t> stack;  // nullopt = the system's default
    unsigned request_n = 10;
    std::uint64_t touch_bytes = 0;
    std::string cpuset;  // PUs the connection threads are bound to ("0-1,3"); empty = all
    std::chrono::nanoseconds baseline{std::chrono::milliseconds(300)};
    std::chrono::nanoseconds hold{std::chrono::seconds(1)};
    std::chrono::nanoseconds interval{std::chrono::milliseconds(100)};
    std::chrono::nanoseconds ramp_timeout{std::chrono::seconds(60)};
    // Without `connect`, an embedded fibserver is started from `server_binary`.
    std::optional<Endpoint> connect;
    std::optional<pid_t> server_pid;
    std::string server_binary;
    SafetyMargin margin;  // where the ramp stops short of the machine's shared ceilings
};

// Where the run stopped short of N connections, and why.
struct Failure {
    std::string side;  // "probe" or "server"
    // "pthread_create", "connect" (also when the descriptor budget ran out), "request",
    // "reply"; on the server's side "serve" (it refused) or "ramp" (it never answered).
    std::string operation;
    std::uint64_t at_thread = 0;
    std::string error;
    Diagnosis diagnosis;
};

struct ServerInfo {
    Endpoint endpoint;
    std::optional<pid_t> pid;
    std::string model;  // from the readiness line; "unknown" for a server we did not start
    bool embedded = false;
};

struct ThreadProbeResult {
    ThreadProbeConfig config;
    std::uint64_t effective_stack_bytes = 0;  // the default resolved, for reports
    MachineContext context;
    ServerInfo server;
    std::vector<Sample> samples;
    CostSummary costs;
    std::uint64_t spawned = 0;
    std::uint64_t connections = 0;  // connections up and answered at the plateau
    double spawn_s = 0;             // first pthread_create to the last connection answered
    ConnectionErrors errors;
    SamplerCost sampler;  // what the sampling itself cost the probe
    std::optional<Failure> failure;
    bool interrupted = false;
    std::optional<std::string> server_died;  // how it ended, if it did mid-run

    int exit_code() const;  // 0 ok, 1 failure or server death, 130 interrupted
};

// Throws (std::system_error, std::runtime_error) only for failures before measuring starts:
// a server that cannot be started or reached. Everything later ends up in the result.
ThreadProbeResult run_threadprobe(const ThreadProbeConfig& config, StopSignal& stop,
                                  const ProgressFn& progress);

}  // namespace tp
