// limitprobe: how many threads this machine allows at each stack size, and which limit stopped
// them. Every attempt is the connection ramp in a forked child (child_run) with a cap (--max), a
// memory floor and, with --connections, descriptors kept back to diagnose with, so the machine
// keeps working and the probe survives whatever the kernel does to the child; when the child
// exits, every thread it made is gone with it. Its row comes back as JSON through a pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection_ramp.hpp"
#include "context.hpp"
#include "forecast.hpp"
#include "limits.hpp"
#include "net.hpp"
#include "progress.hpp"

namespace tp {

class StopSignal;

struct LimitProbeConfig {
    std::vector<std::optional<std::uint64_t>> stacks;  // nullopt = the system's default
    bool connections = false;  // each thread also holds a loopback connection to a fibserver
    std::uint64_t max_threads = 1'000'000;
    double mem_floor_percent = 10;  // stop before MemAvailable falls below this share
    std::chrono::nanoseconds time_limit{std::chrono::seconds(120)};  // per stack size
    std::string server_binary;                                       // for --connections
    // --forecast: measure a sample and forecast, create no more threads than the sample.
    bool forecast_only = false;
    std::optional<pid_t> pid;           // whose limits the forecast is for; nullopt: itself
    std::uint64_t sample_threads = 64;  // per stack size, fewer where a limit is nearer
    SafetyMargin margin;                // where the search stops short of shared ceilings
};

struct LimitProbeRow {
    std::uint64_t stack_bytes = 0;
    bool default_stack = false;
    std::uint64_t threads_reached = 0;
    // What ended the attempt; nullopt when the child died before it could say (the OOM killer,
    // a signal). Written as stopped_by_label().
    std::optional<RampStop> stopped_by;
    std::string error;  // the error text where there is one
    double elapsed_s = 0;
    // What each thread added to the process; nullopt when not measured (a /proc read that
    // failed, or no thread added).
    std::optional<double> vsz_per_thread_kib;
    std::optional<double> rss_per_thread_kib;
    // Which limit stopped it: its binding_limit is a limit name, "unknown", or "none" when no
    // limit was hit.
    Diagnosis diagnosis;
    std::uint64_t threads_at_start = 1;  // the child's own threads before the ramp
    // Where the search stopped at the safety margin: the forecast again, from the readings and
    // the costs measured up to the margin (so it can be held against the forecast before it).
    std::optional<StackForecast> forecast_at_stop;

    // Threads the child process had when it stopped: what a forecast's `threads` predicts.
    std::uint64_t process_threads() const { return threads_at_start + threads_reached; }
};
// Also how a row crosses from the child to the parent, so nothing is lost on the way.
nlohmann::json to_json(const LimitProbeRow& r);
void from_json(const nlohmann::json& j, LimitProbeRow& r);

struct LimitProbeResult {
    LimitProbeConfig config;
    MachineContext context;
    std::optional<std::string> server;  // "127.0.0.1:PORT model=threads pid=N" with --connections
    std::vector<LimitProbeRow> rows;
    pid_t forecast_pid = 0;        // whose limits the forecast is for
    std::string forecast_process;  // its name (/proc/PID/comm)
    std::vector<StackForecast> forecast;
    bool interrupted = false;
    std::optional<std::string> server_died;  // how the --connections server ended, if it did
    int exit_code() const;                   // 0; 1 if the server died; 130 if interrupted
};

// "pthread_create failed", "max reached", "out of descriptors", ... or "child died".
const char* stopped_by_label(const LimitProbeRow& row);

// The forecast for `row`'s stack size in `forecast`, if it has one.
const StackForecast* forecast_for(const std::vector<StackForecast>& forecast,
                                  const LimitProbeRow& row);

LimitProbeResult run_limitprobe(const LimitProbeConfig& config, StopSignal& stop,
                                const ProgressFn& progress);

nlohmann::json to_json(const LimitProbeResult& r);
std::string to_table(const LimitProbeResult& r);

}  // namespace tp
