// From samples to the cost of one more thread: the slope from the baseline (before any thread
// was spawned) to the plateau (every connection up, in the hold phase), divided by the threads
// added on that side. System-wide figures are divided by every task added, probe and server.
// Pure functions of the samples, so they are tested without running anything.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sampler.hpp"

namespace tp {

struct SideCost {
    std::uint64_t threads_added = 0;
    double vsz_per_thread_kib = 0;
    double rss_per_thread_kib = 0;
    double rss_anon_per_thread_kib = 0;
    double pte_per_thread_kib = 0;
    ProcessMemory baseline;
    ProcessMemory plateau;
};

struct SystemCost {
    std::uint64_t tasks_added = 0;
    // "probe and server" when both sides were sampled, else "machine" (/proc/loadavg delta).
    const char* tasks_counted = "probe and server";
    double kernel_stack_per_task_kib = 0;
    double commit_per_task_kib = 0;
    // How the machine's task count moved over the same interval (/proc/loadavg). Far from
    // tasks_added, something else was starting or ending threads, and it is in the system-wide
    // figures too.
    std::optional<std::int64_t> machine_tasks_added;
    bool other_activity() const;
};

struct CostSummary {
    std::optional<SideCost> probe;
    std::optional<SideCost> server;
    std::optional<SystemCost> system;
};

// Median of each field over the samples of one phase, failed ones left out; nullopt if the
// phase has none that did not fail.
std::optional<Sample> median_of_phase(const std::vector<Sample>& samples, Phase phase);

CostSummary summarize_costs(const std::vector<Sample>& samples);

}  // namespace tp
