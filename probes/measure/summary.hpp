// From samples to the cost of one more thread: the slope from the baseline (before any thread
// was spawned) to the plateau (every connection up, in the hold phase), divided by the threads
// added on that side. System-wide figures are divided by every task added, probe and server.
// Pure functions of the samples, so they are tested without running anything.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <vector>

#include "sampler.hpp"
#include "slab.hpp"

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
nlohmann::json to_json(const SideCost& c);  // per-thread figures to 0.01 KiB
void from_json(const nlohmann::json& j, SideCost& c);

// Whose threads a system-wide figure is divided by: the probe's and the server's when both
// sides were sampled, else the machine's task count's change (/proc/loadavg).
enum class TasksCounted { probe_and_server, machine };
const char* tasks_counted_name(TasksCounted t);  // "probe and server", "machine"

struct SystemCost {
    std::uint64_t tasks_added = 0;
    TasksCounted tasks_counted = TasksCounted::probe_and_server;
    double kernel_stack_per_task_kib = 0;
    double commit_per_task_kib = 0;
    // How the machine's task count moved over the same interval (/proc/loadavg). Far from
    // tasks_added, something else was starting or ending threads, and it is in the system-wide
    // figures too.
    std::optional<std::int64_t> machine_tasks_added;
    // Slab memory of the sockets per connection end (both ends of a loopback connection are
    // this machine's), from slab readings at the baseline and the plateau; nullopt where
    // neither slabinfo nor meminfo could be read.
    std::optional<SocketKernelCost> socket_kernel;
    bool other_activity() const;
};
nlohmann::json to_json(const SystemCost& c);  // other_activity() and socket_kernel_kib_per_end too
void from_json(const nlohmann::json& j, SystemCost& c);

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
