// The forecast: how many more threads a process can create before each limit, from what a
// thread was measured to cost and where every limit stands now. Each headroom is arithmetic,
// (ceiling - reserved - current) / cost per thread; the costs come from a small sample of real
// threads in a child (tasks, mappings, address space, commit charge, resident memory, kernel
// stack, descriptors), never from what a thread is assumed to cost. The binding limit is the
// enforced one with the least headroom.
//
// Also the safety margin the searches keep: pid_max, threads-max and the commit limit are
// shared by the whole machine, and a probe standing at one makes every other process's fork
// fail, so a search stops that far short of them unless told to go to the limit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "limits.hpp"
#include "net.hpp"
#include "procfs.hpp"

namespace tp {

// What a process looks like to the limits, at one moment: the counters a thread moves.
struct CostSnapshot {
    std::optional<ProcessMemory> process;
    std::optional<MappingTotals> mappings;
    std::optional<SystemMemory> system;
    std::optional<std::uint64_t> descriptors;
    std::optional<std::uint64_t> machine_tasks;  // /proc/loadavg: a server's threads count too
    // The threads of the processes that make every task a thread adds (the process and its
    // server), where those are known: exact, where the machine's count also moves with every
    // other process that starts or ends a thread meanwhile.
    std::optional<std::uint64_t> own_tasks;
};
// `task_owners`: the processes whose threads are all the tasks a new thread adds (`pid`, and
// the server each thread connects to); empty where that is not known (a server started by
// someone else), and the machine's count is used instead.
CostSnapshot take_cost_snapshot(const ProcFs& fs, pid_t pid,
                                const std::vector<pid_t>& task_owners = {});
// Those processes for threads of `pid` connecting to a server (or none): `pid` and the server's
// process; empty where there is a server whose process is not known.
std::vector<pid_t> task_owners(pid_t pid, bool has_server, std::optional<pid_t> server_pid);

// What one more thread cost, measured as the difference between two snapshots divided by the
// threads added. Kernel stack is system-wide (/proc/meminfo KernelStack), so it also moves
// with whatever else the machine does in between; a negative slope reads as zero.
struct ThreadCostSample {
    std::uint64_t stack_bytes = 0;
    bool default_stack = false;
    bool holds_connection = false;
    std::uint64_t threads = 0;  // threads the sample added; 0 = nothing measured
    double tasks = 1;  // tasks on the machine per thread: 2 where a local server adds one too
    double mappings = 0;
    double vsz_kib = 0;
    double commit_kib = 0;  // private writable mappings: what the commit charge counts
    double rss_kib = 0;
    double kernel_stack_kib = 0;
    double descriptors = 0;

    // Where glibc put the guard page, as the mapping count shows: two mappings per thread is a
    // PROT_NONE mapping below each stack, one is a guard inside it (MADV_GUARD_INSTALL).
    std::string guard_layout() const;
    // What the memory limits (MemAvailable, a memory cgroup) pay per thread.
    double memory_kib() const { return rss_kib + kernel_stack_kib; }
};
ThreadCostSample cost_between(const CostSnapshot& before, const CostSnapshot& after);
nlohmann::json to_json(const ThreadCostSample& c);
void from_json(const nlohmann::json& j, ThreadCostSample& c);

// Creates `threads` parked threads at `stack` (nullopt: the default) in a forked child, each
// holding a connection to `server` where one is given (its process `server_pid`, where known),
// and measures what they cost. The child takes them all with it when it exits. Throws
// std::runtime_error if the child cannot measure.
ThreadCostSample sample_thread_cost(std::optional<std::uint64_t> stack,
                                    const std::optional<Endpoint>& server,
                                    std::optional<pid_t> server_pid, std::uint64_t threads);

// One stack size's forecast for one process.
struct StackForecast {
    ThreadCostSample cost;
    std::uint64_t current_threads = 0;
    // The most threads the process would reach: current + the binding limit's headroom;
    // nullopt when no enforced limit has a ceiling.
    std::optional<std::uint64_t> threads;
    std::string binding_limit;         // a limit name, or "none"
    std::vector<LimitReading> limits;  // each with the measured cost per thread

    // The binding limit's reading, if there is one.
    const LimitReading* binding() const;
};
nlohmann::json to_json(const StackForecast& f);
void from_json(const nlohmann::json& j, StackForecast& f);

// Prices each reading at the measured cost and names the limit that binds.
StackForecast forecast_threads(std::vector<LimitReading> readings, const ThreadCostSample& cost,
                               std::uint64_t current_threads);

// What a process's forecast is asked for: a stack size, a server each sample thread connects
// to (or none), the sample's size, and descriptors the process keeps for itself.
struct ForecastRequest {
    std::optional<std::uint64_t> stack;  // nullopt: the system's default
    std::optional<Endpoint> server;
    std::optional<pid_t> server_pid;  // the server's, where known: its threads are counted exactly
    std::uint64_t sample_threads = 64;
    std::uint64_t descriptors_kept = 0;
};

// The whole forecast for process `pid`: a sample measured here (no more threads than half the
// least headroom this process has, so the sample never meets a limit), priced against `pid`'s
// limits read once the sample is gone. Throws std::runtime_error if `pid` is gone.
StackForecast forecast_process(const ProcFs& fs, pid_t pid, const ForecastRequest& request);

// Two figures for the same limit agree within 1% or 16 threads, whichever is larger: what a
// contained search is held to against its forecast.
bool forecasts_agree(std::uint64_t forecast, std::uint64_t measured);

// How much of a system-wide ceiling a search leaves to the rest of the machine: the larger of
// `percent` of the ceiling and `tasks` (for the commit limit, `percent` alone).
struct KeepFree {
    double percent = 5;
    std::uint64_t tasks = 1000;
};
std::string describe(const KeepFree& k);  // "5%,1000"

// Where a search stops: the tasks on the machine (/proc/loadavg) and Committed_AS it must not
// reach. Empty with --to-the-limit.
struct SafetyMargin {
    std::optional<std::uint64_t> max_tasks;
    std::optional<std::uint64_t> max_committed_kib;  // only in overcommit mode 2
    std::string evidence;  // "pid_max 32768 - 300 reserved, keeping 1623 free: 30845 tasks"
};
SafetyMargin safety_margin(const ProcFs& fs, const KeepFree& keep);
nlohmann::json to_json(const SafetyMargin& m);

}  // namespace tp
