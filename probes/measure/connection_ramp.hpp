// The connection ramp threadprobe and limitprobe share: connection threads spawned one at a
// time until the target, a limit or a stop, inside a descriptor budget that keeps room to
// sample and diagnose with, then waited for until each has connected or failed. Why it ended
// is a RampStop; a failure is diagnosed where it happened, against the limits of the process
// that met it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "connection_threads.hpp"
#include "forecast.hpp"
#include "limits.hpp"
#include "procfs.hpp"
#include "progress.hpp"
#include "sampler.hpp"

namespace tp {

class StopSignal;

// Descriptors a ramp keeps for its process while its threads hold their connections: the
// sampler's and the diagnosis's /proc reads, the results files. Without them, a ramp that
// meets RLIMIT_NOFILE could not even read /proc/meminfo to say so.
inline constexpr std::uint64_t kDescriptorReserve = 32;

enum class RampStop {
    target_reached,     // every thread asked for was spawned
    pthread_create,     // pthread_create failed
    connect,            // a thread's connect failed
    request,            // a thread's send or receive failed
    reply,              // a thread's reply was not fib(n)
    refused,            // the server answered "error: ..."
    descriptor_budget,  // RLIMIT_NOFILE, less kDescriptorReserve, is taken
    memory_floor,       // MemAvailable fell below the floor
    safety_margin,      // the machine's tasks or commit charge reached the margin kept free
    time_limit,
    interrupted,  // a stop signal
    server_died,
};

// The label printed and written for it: "max reached", "pthread_create failed",
// "connect failed", "refused by server", "out of descriptors", "memory floor", ...
const char* ramp_stop_label(RampStop stop);
// The stop a label names; nullopt for one that names none.
std::optional<RampStop> ramp_stop_from_label(std::string_view label);

struct RampConfig {
    std::uint64_t target = 0;                    // threads to spawn
    ThreadCost cost;                             // what one more thread asks, for the diagnosis
    std::optional<pid_t> server_pid;             // whose limits a refusal is diagnosed against
    std::optional<double> memory_floor_percent;  // stop before MemAvailable falls below it
    SafetyMargin margin;  // system-wide ceilings' room kept for the rest of the machine
    std::optional<std::chrono::nanoseconds> time_limit;
    // How long spawned threads get to connect or fail once spawning has ended (and, with
    // settle_each_batch, after each batch).
    std::chrono::nanoseconds settle_timeout{std::chrono::seconds(60)};
    // Let each batch settle before the next: a failure is then seen within a batch of where it
    // happened, at the cost of a ramp that waits for every batch's connections.
    bool settle_each_batch = false;
};

struct RampResult {
    RampStop stopped_by = RampStop::target_reached;  // what ended spawning
    // What went wrong: stopped_by when it is a failure, else a connection thread that failed
    // while the others settled; nullopt when nothing did.
    std::optional<RampStop> failure;
    std::uint64_t failed_at_thread = 0;  // index of the thread the failure happened at
    std::string error;                   // the error text where there is one (failures, the floor)
    std::optional<Diagnosis> diagnosis;  // with every failure
    bool settled = true;  // every spawned thread connected or failed within settle_timeout
    double spawn_s = 0;   // from the first pthread_create to the end of the settling

    // The failure if there was one, else what ended spawning.
    RampStop outcome() const { return failure.value_or(stopped_by); }
};

class ConnectionRamp {
  public:
    // `state`, when given, is where the sampler reads the connections held.
    ConnectionRamp(ProcFs fs, const ConnectionThreadConfig& threads, RampConfig config,
                   RunState* state = nullptr);
    ~ConnectionRamp();  // releases and joins
    ConnectionRamp(const ConnectionRamp&) = delete;
    ConnectionRamp& operator=(const ConnectionRamp&) = delete;

    // Spawns until the target or a stop, then waits for the threads to settle. Checks `stop`
    // and `server_alive` every batch and while settling; `progress` is told how it goes.
    // Throws std::runtime_error if a memory floor is asked for and /proc/meminfo cannot be read.
    RampResult run(StopSignal& stop, const std::function<bool()>& server_alive,
                   const ProgressFn& progress);

    // Lets every thread close its connection and exit, and joins them.
    void release();

    const ConnectionThreads& threads() const { return threads_; }

  private:
    std::optional<RampStop> check_batch(StopSignal& stop, const std::function<bool()>& alive,
                                        std::optional<std::uint64_t> floor_kib) const;
    void settle(StopSignal& stop, const std::function<bool()>& server_alive,
                const ProgressFn& progress, RampResult& result);
    void describe_failure(RampResult& result, int pthread_error) const;
    void publish_connections() const;

    ProcFs fs_;
    RampConfig config_;
    RunState* state_;
    bool holds_connections_;
    pid_t self_;
    ConnectionThreads threads_;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace tp
