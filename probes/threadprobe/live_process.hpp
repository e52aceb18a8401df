// threadprobe --pid: what a live process's threads really cost, read from /proc alone. Each
// thread's stack (reserved, guard, resident, high-water), the process's memory split into
// stacks, kernel stacks, page tables and the rest, the distribution of high-water marks with a
// stack size that would fit them, and the forecast of its limits. With --watch, the same figures
// as a time series, high-water marks only ever growing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "forecast.hpp"
#include "progress.hpp"
#include "thread_stacks.hpp"

namespace tp {

class StopSignal;

struct LiveProcessConfig {
    pid_t pid = 0;
    std::optional<std::chrono::nanoseconds> watch;  // a time series over this long
    std::chrono::nanoseconds interval{std::chrono::seconds(1)};
};

// High-water marks of the threads other than the main one, in KiB.
struct HighWaterSummary {
    std::uint64_t threads = 0;
    std::uint64_t min_kib = 0, p50_kib = 0, p90_kib = 0, max_kib = 0;
    std::vector<std::string> names_at_max;
    std::uint64_t reserved_p50_kib = 0;  // what those threads reserve, typically
    // A stack size that holds the deepest use seen with half again to spare, in 16 KiB steps.
    std::uint64_t suggested_stack_kib = 0;
};

// One sample of --watch (and the last one, without it).
struct LiveSample {
    double t_s = 0;
    std::uint64_t threads = 0;
    std::uint64_t stacks_reserved_kib = 0;
    std::uint64_t stacks_resident_kib = 0;
    std::uint64_t max_high_water_kib = 0;  // the deepest any thread has gone, so far
    std::uint64_t rss_kib = 0;
};

struct LiveProcessResult {
    LiveProcessConfig config;
    MachineContext context;
    StackInspection stacks;  // the last inspection, high-water marks as the deepest seen
    ProcessMemory memory;
    std::uint64_t stacks_reserved_kib = 0;
    std::uint64_t stacks_resident_kib = 0;
    double kernel_stack_kib_per_thread = 0;  // measured here (KernelStack per thread made)
    std::uint64_t kernel_stacks_kib = 0;
    std::uint64_t other_resident_kib = 0;  // resident, neither stack nor page tables
    std::optional<HighWaterSummary> high_water;
    StackForecast forecast;
    std::vector<LiveSample> samples;
    bool interrupted = false;
    int exit_code() const;  // 0; 1 if the process ended mid-read; 130 if interrupted
};

// Called with the result as it stands once the first inspection and the forecast are done,
// and again after every --watch sample: what --openmetrics rewrites its file from.
using LiveSampleFn = std::function<void(const LiveProcessResult&)>;

// Throws InspectError (one line) for a process that cannot be inspected.
LiveProcessResult inspect_live_process(const LiveProcessConfig& config, StopSignal& stop,
                                       const ProgressFn& progress,
                                       const LiveSampleFn& on_sample = {});

std::optional<HighWaterSummary> summarize_high_water(const std::vector<ThreadStack>& threads);

nlohmann::json to_json(const LiveProcessResult& r);
std::string to_table(const LiveProcessResult& r);
std::string to_csv(const LiveProcessResult& r);

}  // namespace tp
