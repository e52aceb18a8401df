// latencyprobe: the article's perf1. K clients, each on its own connection, repeat fib(n) and
// time every answer; per-client and overall percentiles show whether clients share one core
// (a GIL: two clients, twice the latency) or get one each.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "machine_load.hpp"
#include "parallelism.hpp"
#include "placement.hpp"
#include "progress.hpp"
#include "request_clients.hpp"
#include "target_server.hpp"

namespace tp {

class StopSignal;

struct LatencyProbeConfig {
    unsigned clients = 1;
    unsigned n = 30;                                    // perf1.py's request
    std::optional<std::uint64_t> count;                 // requests per client
    static constexpr std::uint64_t kDefaultCount = 20;  // without --count or --duration
    std::optional<std::chrono::nanoseconds> duration;   // or for this long
    ServerSource server;
    std::chrono::seconds reply_timeout{60};
    // free: the article's perf1, wherever the scheduler puts the clients and the server.
    // one_pu: one client's requests computed on the PU computing fastest at the start, not on
    // whichever one the scheduler picks (on a host that slows one of them, that decided the
    // latency); two clients on one PU cannot run in parallel.
    Placement placement = Placement::free;
};

struct ClientLatency {
    LatencyStats stats;
    std::vector<double> latencies_ms;
    std::string error;  // empty unless the client's connection failed
};

struct LatencyProbeResult {
    LatencyProbeConfig config;
    MachineContext context;
    // How busy the machine was while it ran: its own CPU (the embedded server included) and
    // everything else's.
    MachineLoad load;
    // With two clients or more, how much faster that many threads computed fib together than
    // one alone, just before the clients started and again just after they ended: whether
    // the machine could run them in parallel at all. A host that shares its virtual CPUs with
    // others can take that away for seconds at a time, unseen in /proc/stat.
    std::optional<ParallelSpeedup> parallelism, parallelism_after;
    // Each PU's speed just before the server started and just after the clients ended:
    // whether the host ran the machine at full speed meanwhile.
    std::optional<SpeedCheck> speed_before, speed_after;
    std::optional<std::string> pinned_pu;  // with Placement::one_pu
    ServerIdentity server;
    std::vector<ClientLatency> clients;
    LatencyStats overall;
    double elapsed_s = 0;
    bool interrupted = false;
    int exit_code() const;  // 0; 1 if a client failed; 130 if interrupted
};

LatencyProbeResult run_latencyprobe(const LatencyProbeConfig& config, StopSignal& stop,
                                    const ProgressFn& progress);
nlohmann::json to_json(const LatencyProbeResult& r);
std::string to_table(const LatencyProbeResult& r);

}  // namespace tp
