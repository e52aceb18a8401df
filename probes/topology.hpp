// The machine as hwloc sees it, summarised for report headers and the results' context block.
#pragma once

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

// Reads the topology of this machine (the parts of it this process may use). Throws
// std::runtime_error if hwloc cannot load it.
Topology read_topology();

}  // namespace tp
