// What the kernel spends on sockets: slab memory before and after connections are opened. Each
// TCP connection end is a `tcp_sock` (cache TCP), its socket inode (sock_inode_cache), a file
// (filp), a dentry, and with epoll a watch (eventpoll_epi), none of which shows in any
// process's RSS. /proc/slabinfo gives every cache's active objects and object size (root
// only: it is mode 0400); elsewhere /proc/meminfo's Slab total is the fallback, and the result
// says which it came from.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "procfs.hpp"

namespace tp {

enum class SlabSource { slabinfo, meminfo };
const char* slab_source_name(SlabSource s);  // "/proc/slabinfo", "/proc/meminfo Slab"

// Bytes held by active objects, per cache (slabinfo), or the one "Slab" total (meminfo).
struct SlabSnapshot {
    SlabSource source = SlabSource::slabinfo;
    std::map<std::string, std::uint64_t> bytes;
};

// /proc/slabinfo version 2.x: active_objs x objsize per cache; nullopt for another format.
std::optional<SlabSnapshot> parse_slabinfo(const std::string& text);
// slabinfo where it can be read, else meminfo's Slab; nullopt when neither can.
std::optional<SlabSnapshot> read_slab(const ProcFs& fs);

// Whether a cache holds a part of every socket (TCP, TCPv6, sock_inode_cache, filp, dentry,
// eventpoll_epi, eventpoll_pwq, the LSM's per-file and per-inode blobs). Other caches that move
// (task_struct for a thread per connection, the generic kmalloc ones) are listed, not counted.
bool is_socket_cache(const std::string& name);

struct CacheGrowth {
    std::string name;
    double kib_per_end = 0;
    bool counted = false;  // a socket cache (is_socket_cache), in kib_per_end's total
};

// The kernel's socket memory per connection end between two snapshots.
struct SocketKernelCost {
    SlabSource source = SlabSource::slabinfo;
    std::uint64_t ends = 0;
    double kib_per_end = 0;           // the socket caches' growth (meminfo: all of Slab's)
    double other_kib_per_end = 0;     // every other cache's growth (a thread's task_struct)
    std::vector<CacheGrowth> caches;  // every cache that moved by 0.01 KiB per end or more,
                                      // largest first
};
nlohmann::json to_json(const SocketKernelCost& c);
void from_json(const nlohmann::json& j, SocketKernelCost& c);

// nullopt when the snapshots differ in source or there are no ends to divide by.
std::optional<SocketKernelCost> socket_kernel_cost(const SlabSnapshot& before,
                                                   const SlabSnapshot& after, std::uint64_t ends);

}  // namespace tp
