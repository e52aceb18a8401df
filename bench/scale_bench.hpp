// Scale: fibserver's epoll model holding as many connections as this machine lets one process
// hold, and the threads model pushed the same way, with what each connection costs the server:
// user memory (anonymous resident: heap, stacks), kernel stack, page tables. The client side is
// hold_connections, one thread per holder process, so the clients spend no pids and the server
// meets its limit first. Every run names the limit that stopped it, read on the server's side.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "environment.hpp"
#include "stats.hpp"

namespace tp::bench {

struct ScaleConfig {
    std::vector<std::string> models = {"epoll", "threads"};
    std::uint64_t thread_stack = 64 * 1024;  // the threads model's --stack
    unsigned repetitions = 3;
};

struct ScaleRun {
    std::uint64_t offered = 0;
    std::uint64_t connections = 0;  // served and held at the plateau
    std::string stopped_by;         // what the holders saw at the first connection not served
    std::string limit;              // the server-side limit at its ceiling, or "unknown"
    std::string evidence;
    std::int64_t threads_added = 0;
    double user_kib_per_conn = 0;          // RssAnon of the server
    double kernel_stack_kib_per_conn = 0;  // KernelStack of the machine (system-wide)
    double pte_kib_per_conn = 0;           // VmPTE of the server
};

struct ScaleModelResult {
    std::vector<ScaleRun> runs;
    Series connections, user_kib, kernel_stack_kib, pte_kib;
    // The limit most runs named (the runs list every one).
    std::string limit, evidence, stopped_by;
};

struct ScaleResult {
    ScaleConfig config;
    std::map<std::string, ScaleModelResult> models;
};

ScaleResult run_scale_bench(const ScaleConfig& config, const Environment& env);

nlohmann::json to_json(const ScaleResult& r);

}  // namespace tp::bench
