// The machine as hwloc sees it, summarised for report headers and the results' context block.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tp {

struct CacheLevel {
    unsigned level = 0;  // 1, 2, 3
    std::string type;    // "data", "instruction", "unified"
    std::uint64_t size_bytes = 0;
    unsigned count = 0;  // how many such caches
};

struct Topology {
    unsigned packages = 0;
    unsigned cores = 0;
    unsigned pus = 0;  // hardware threads
    unsigned numa_nodes = 0;
    std::vector<CacheLevel> caches;
    std::string cpu_model;  // from the package's CPUModel info, if hwloc knows it

    // "1 package, 2 cores, 2 PUs, 1 NUMA node; L1d 32 KiB x2, L2 ..."
    std::string summary() const;
};

// A set of processing units as hwloc writes it ("0-1,3"), checked against this machine.
// Throws std::invalid_argument, naming the PUs there are, if `list` is malformed or names
// none of them.
std::string check_cpuset(const std::string& list);

// Binds the calling thread to the PUs in `list`; threads it creates from then on inherit the
// binding. Throws std::system_error if the kernel refuses.
void bind_calling_thread(const std::string& list);

// Every thread of process `pid` and of its descendants (found through
// /proc/PID/task/TID/children).
std::vector<pid_t> tasks_of_tree(pid_t pid);
// Binds those tasks to the PUs in `list`; threads they create from then on inherit it. A task
// that exits meanwhile is skipped. Returns how many were bound; throws std::system_error if
// the kernel refuses one.
std::size_t bind_tasks(const std::vector<pid_t>& tids, const std::string& list);
std::size_t bind_process_tree(pid_t pid, const std::string& list);

// The PUs this process may use ("0-1"), the first of them alone ("0"), and all of them but
// those in `list` (empty when none is left).
std::string usable_pus();
std::string first_usable_pu();
std::string usable_pus_but(const std::string& list);
// Each PU this process may use, as a list of one ("0", "1", ...), in order.
std::vector<std::string> usable_pus_each();

// Reads the topology of this machine (the parts of it this process may use). Throws
// std::runtime_error if hwloc cannot load it.
Topology read_topology();

}  // namespace tp
