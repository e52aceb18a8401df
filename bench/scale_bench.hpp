// Scale: fibserver's epoll model holding 100,000 connections (memory permitting), and the
// threads model pushed until its own ceiling or the safety margin, with what each connection
// costs the server whole: user memory (anonymous resident: heap, stacks), kernel stack, page
// tables, and the slab memory of its socket (/proc/slabinfo, per connection end). The client
// side is hold_connections, one thread per holder process, so the clients spend no pids, and
// several loopback source addresses, so the ephemeral port range is not the ceiling.
// RLIMIT_NOFILE is raised to fs.nr_open where this process may (root). Every run names what
// stopped it and the limit nearest on the server's side.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "environment.hpp"
#include "slab.hpp"
#include "stats.hpp"

namespace tp::bench {

struct ScaleConfig {
    // gil and prefork priced beside them at a smaller count: prefork per worker process, the
    // whole process (its RssAnon counts pages it shares copy-on-write with the parent: an upper
    // bound), from the machine before the server started.
    std::vector<std::string> models = {"epoll", "threads", "gil", "prefork"};
    std::uint64_t thread_stack = 64 * 1024;  // the threads model's --stack
    unsigned repetitions = 3;
    // What the epoll model is offered; a thread per connection is offered all the machine
    // allows short of the safety margin.
    std::uint64_t epoll_connections = 100'000;
    std::uint64_t other_connections = 10'000;  // gil
    // prefork serves a connection per worker process; fibserver forks at most 1024.
    std::uint64_t prefork_workers = 1000;
    // MemAvailable a run leaves the machine, as a share of MemTotal (limitprobe's floor).
    double memory_floor_percent = 10;
};

struct ScaleRun {
    std::uint64_t offered = 0;
    std::uint64_t connections = 0;  // served and held at the plateau
    std::string stopped_by;         // what the holders saw at the first connection not served
    std::string limit;              // the server-side limit at its ceiling, or "unknown"
    std::string evidence;
    std::string offer_bound;  // what set the offer: "asked", "descriptors", "safety margin", ...
    double open_s = 0;        // the holders' time to open and get served every connection
    std::int64_t threads_added = 0;
    double user_kib_per_conn = 0;          // RssAnon of the server
    double kernel_stack_kib_per_conn = 0;  // KernelStack of the machine (system-wide)
    double pte_kib_per_conn = 0;           // VmPTE of the server
    // Slab growth of the socket caches per connection end, both ends being this machine's.
    std::optional<SocketKernelCost> socket_kernel;
    double socket_kernel_kib_per_conn() const {
        return socket_kernel ? socket_kernel->kib_per_end : 0;
    }
    // The rest of the slab growth, all of it the server's (the holders start no tasks): a thread
    // per connection's task_struct, pid and VMAs, which KernelStack does not count.
    double other_slab_kib_per_conn() const {
        return socket_kernel ? 2 * socket_kernel->other_kib_per_end : 0;
    }
    double total_kib_per_conn() const {
        return user_kib_per_conn + kernel_stack_kib_per_conn + pte_kib_per_conn +
               socket_kernel_kib_per_conn() + other_slab_kib_per_conn();
    }
};

struct ScaleModelResult {
    std::vector<ScaleRun> runs;
    Series connections, user_kib, kernel_stack_kib, pte_kib, socket_kernel_kib, other_slab_kib,
        total_kib, open_s;
    // The limit most runs named (the runs list every one).
    std::string limit, evidence, stopped_by;
};

struct ScaleResult {
    ScaleConfig config;
    std::uint64_t descriptor_limit = 0;  // RLIMIT_NOFILE's hard limit the runs had
    std::string descriptor_limit_how;    // "raised to fs.nr_open" or why not
    std::uint64_t source_addresses = 0;
    std::map<std::string, ScaleModelResult> models;
};

ScaleResult run_scale_bench(const ScaleConfig& config, const Environment& env);

nlohmann::json to_json(const ScaleResult& r);

}  // namespace tp::bench
