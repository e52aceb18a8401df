#include "topology.hpp"

#include <fmt/format.h>
#include <hwloc.h>

#include <memory>
#include <stdexcept>

#include "units.hpp"

namespace tp {
namespace {

struct TopologyDeleter {
    void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using TopologyHandle = std::unique_ptr<hwloc_topology, TopologyDeleter>;

TopologyHandle load_topology() {
    hwloc_topology_t raw = nullptr;
    if (hwloc_topology_init(&raw) != 0) throw std::runtime_error("hwloc_topology_init failed");
    TopologyHandle topology(raw);
    if (hwloc_topology_load(raw) != 0) throw std::runtime_error("hwloc_topology_load failed");
    return topology;
}

unsigned count(hwloc_topology_t t, hwloc_obj_type_t type) {
    const int n = hwloc_get_nbobjs_by_type(t, type);
    return n > 0 ? static_cast<unsigned>(n) : 0;
}

std::string plural(unsigned n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

Topology read_topology() {
    const TopologyHandle handle = load_topology();
    hwloc_topology_t t = handle.get();
    Topology topo;
    topo.packages = count(t, HWLOC_OBJ_PACKAGE);
    topo.cores = count(t, HWLOC_OBJ_CORE);
    topo.pus = count(t, HWLOC_OBJ_PU);
    topo.numa_nodes = count(t, HWLOC_OBJ_NUMANODE);
    constexpr hwloc_obj_type_t cache_types[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE,
                                                HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
                                                HWLOC_OBJ_L4CACHE};
    for (const auto type : cache_types) {
        const unsigned n = count(t, type);
        if (n == 0) continue;
        const hwloc_obj_t first = hwloc_get_obj_by_type(t, type, 0);
        CacheLevel c;
        c.level = first->attr->cache.depth;
        c.size_bytes = first->attr->cache.size;
        c.count = n;
        switch (first->attr->cache.type) {
            case HWLOC_OBJ_CACHE_DATA:
                c.type = "data";
                break;
            case HWLOC_OBJ_CACHE_INSTRUCTION:
                c.type = "instruction";
                break;
            default:
                c.type = "unified";
                break;
        }
        topo.caches.push_back(c);
    }
    if (const hwloc_obj_t package = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, 0)) {
        if (const char* model = hwloc_obj_get_info_by_name(package, "CPUModel"))
            topo.cpu_model = model;
    }
    return topo;
}

std::string Topology::summary() const {
    std::string out = fmt::format("{}, {}, {}, {}", plural(packages, "package", "packages"),
                                  plural(cores, "core", "cores"), plural(pus, "PU", "PUs"),
                                  plural(numa_nodes, "NUMA node", "NUMA nodes"));
    const char* sep = "; ";
    for (const auto& c : caches) {
        const char* suffix = c.type == "data" ? "d" : c.type == "instruction" ? "i" : "";
        out +=
            fmt::format("{}L{}{} {} x{}", sep, c.level, suffix, format_size(c.size_bytes), c.count);
        sep = ", ";
    }
    return out;
}

}  // namespace tp
