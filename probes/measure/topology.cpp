#include "topology.hpp"

#include <fmt/format.h>
#include <hwloc.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

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

struct BitmapDeleter {
    void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

std::string to_list(hwloc_const_bitmap_t set) {
    char* text = nullptr;
    hwloc_bitmap_list_asprintf(&text, set);
    std::string out = text ? text : "";
    std::free(text);
    return out;
}

// The PUs of `list` this process may use, or an exception saying why there are none.
Bitmap usable_set(hwloc_topology_t t, const std::string& list) {
    Bitmap set(hwloc_bitmap_alloc());
    const auto allowed = hwloc_topology_get_allowed_cpuset(t);
    if (list.empty() || list.find_first_not_of("0123456789,-") != std::string::npos ||
        hwloc_bitmap_list_sscanf(set.get(), list.c_str()) != 0)
        throw std::invalid_argument(fmt::format(
            "'{}' is not a list of PUs like 0-1,3 (this machine has {})", list, to_list(allowed)));
    hwloc_bitmap_and(set.get(), set.get(), allowed);
    if (hwloc_bitmap_iszero(set.get()))
        throw std::invalid_argument(
            fmt::format("'{}' names no PU this process may use ({})", list, to_list(allowed)));
    return set;
}

}  // namespace

std::string check_cpuset(const std::string& list) {
    const TopologyHandle handle = load_topology();
    return to_list(usable_set(handle.get(), list).get());
}

void bind_calling_thread(const std::string& list) {
    const TopologyHandle handle = load_topology();
    const Bitmap set = usable_set(handle.get(), list);
    if (hwloc_set_cpubind(handle.get(), set.get(), HWLOC_CPUBIND_THREAD) != 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("cannot bind to PUs {}", list));
}

std::vector<pid_t> tasks_of_tree(pid_t pid) {
    std::vector<pid_t> tids, processes{pid};
    for (std::size_t p = 0; p < processes.size(); ++p) {
        const auto tasks = std::filesystem::path("/proc") / std::to_string(processes[p]) / "task";
        std::error_code ec;
        for (std::filesystem::directory_iterator it(tasks, ec), end; !ec && it != end;
             it.increment(ec)) {
            const std::string name = it->path().filename();
            pid_t tid = 0;
            if (std::from_chars(name.data(), name.data() + name.size(), tid).ec != std::errc())
                continue;
            tids.push_back(tid);
            std::ifstream children(it->path() / "children");
            for (pid_t child; children >> child;) processes.push_back(child);
        }
    }
    return tids;
}

std::size_t bind_tasks(const std::vector<pid_t>& tids, const std::string& list) {
    const TopologyHandle handle = load_topology();
    const Bitmap set = usable_set(handle.get(), list);
    std::size_t bound = 0;
    for (const pid_t tid : tids) {
        if (hwloc_set_proc_cpubind(handle.get(), tid, set.get(), HWLOC_CPUBIND_THREAD) != 0) {
            if (errno == ESRCH) continue;  // exited meanwhile
            throw std::system_error(errno, std::generic_category(),
                                    fmt::format("cannot bind task {} to PUs {}", tid, list));
        }
        ++bound;
    }
    return bound;
}

std::size_t bind_process_tree(pid_t pid, const std::string& list) {
    return bind_tasks(tasks_of_tree(pid), list);
}

std::string usable_pus() {
    const TopologyHandle handle = load_topology();
    return to_list(hwloc_topology_get_allowed_cpuset(handle.get()));
}

std::string first_usable_pu() {
    const TopologyHandle handle = load_topology();
    return std::to_string(hwloc_bitmap_first(hwloc_topology_get_allowed_cpuset(handle.get())));
}

std::string usable_pus_but(const std::string& list) {
    const TopologyHandle handle = load_topology();
    Bitmap rest(hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(handle.get())));
    Bitmap excluded(hwloc_bitmap_alloc());
    if (hwloc_bitmap_list_sscanf(excluded.get(), list.c_str()) == 0)
        hwloc_bitmap_andnot(rest.get(), rest.get(), excluded.get());
    return hwloc_bitmap_iszero(rest.get()) ? std::string() : to_list(rest.get());
}

std::vector<std::string> usable_pus_each() {
    const TopologyHandle handle = load_topology();
    std::vector<std::string> each;
    unsigned pu = 0;
    hwloc_bitmap_foreach_begin(pu, hwloc_topology_get_allowed_cpuset(handle.get())) {
        each.push_back(std::to_string(pu));
    }
    hwloc_bitmap_foreach_end();
    return each;
}

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
