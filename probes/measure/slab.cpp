#include "slab.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

#include "json_fields.hpp"

namespace tp {
namespace {

// A cache below this growth per end is noise from the rest of the machine, not the sockets.
constexpr double kReportedKibPerEnd = 0.01;

std::string_view next_field(std::string_view& line) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(start);
    const auto end = std::min(line.find(' '), line.size());
    const std::string_view field = line.substr(0, end);
    line.remove_prefix(end);
    return field;
}

std::optional<std::uint64_t> number(std::string_view field) {
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (ec != std::errc() || ptr != field.data() + field.size()) return std::nullopt;
    return v;
}

}  // namespace

const char* slab_source_name(SlabSource s) {
    return s == SlabSource::meminfo ? "/proc/meminfo Slab" : "/proc/slabinfo";
}

std::optional<SlabSnapshot> parse_slabinfo(const std::string& text) {
    std::string_view rest(text);
    SlabSnapshot snapshot;
    bool versioned = false;
    while (!rest.empty()) {
        const auto eol = std::min(rest.find('\n'), rest.size());
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(std::min(eol + 1, rest.size()));
        if (line.starts_with("slabinfo - version: ")) {
            // 2.0 and 2.1 share the columns read here; 1.x had others.
            if (!line.substr(20).starts_with("2.")) return std::nullopt;
            versioned = true;
            continue;
        }
        if (line.empty() || line.starts_with('#')) continue;
        // name active_objs num_objs objsize ...
        const std::string_view name = next_field(line);
        const auto active = number(next_field(line));
        const auto total = number(next_field(line));
        const auto size = number(next_field(line));
        if (name.empty() || !active || !total || !size) return std::nullopt;
        snapshot.bytes[std::string(name)] = *active * *size;
    }
    if (!versioned) return std::nullopt;
    return snapshot;
}

std::optional<SlabSnapshot> read_slab(const ProcFs& fs) {
    if (const auto text = read_small_file(fs.paths().proc / "slabinfo"))
        if (auto parsed = parse_slabinfo(*text)) return parsed;
    const auto meminfo = read_small_file(fs.paths().proc / "meminfo");
    if (!meminfo) return std::nullopt;
    const auto slab_kib = status_field(*meminfo, "Slab");
    if (!slab_kib) return std::nullopt;
    return SlabSnapshot{SlabSource::meminfo, {{"Slab", *slab_kib * 1024}}};
}

bool is_socket_cache(const std::string& name) {
    // lsm_*: the security module's blob for every file and every inode, sockets' included.
    static constexpr std::array<std::string_view, 9> kSocketCaches = {
        "TCP",           "TCPv6",         "sock_inode_cache", "filp",           "dentry",
        "eventpoll_epi", "eventpoll_pwq", "lsm_file_cache",   "lsm_inode_cache"};
    return std::find(kSocketCaches.begin(), kSocketCaches.end(), name) != kSocketCaches.end();
}

std::optional<SocketKernelCost> socket_kernel_cost(const SlabSnapshot& before,
                                                   const SlabSnapshot& after, std::uint64_t ends) {
    if (before.source != after.source || ends == 0) return std::nullopt;
    SocketKernelCost cost;
    cost.source = after.source;
    cost.ends = ends;
    const auto n = static_cast<double>(ends);
    double counted_bytes = 0, other_bytes = 0;
    for (const auto& [name, bytes_after] : after.bytes) {
        const auto found = before.bytes.find(name);
        const std::uint64_t bytes_before = found == before.bytes.end() ? 0 : found->second;
        const double growth = static_cast<double>(bytes_after) - static_cast<double>(bytes_before);
        // meminfo has one figure: all of it is the sockets', and it says so by its source.
        const bool counted = after.source == SlabSource::meminfo || is_socket_cache(name);
        (counted ? counted_bytes : other_bytes) += growth;
        const double kib_per_end = growth / 1024.0 / n;
        if (std::abs(kib_per_end) >= kReportedKibPerEnd)
            cost.caches.push_back({name, kib_per_end, counted});
    }
    std::sort(cost.caches.begin(), cost.caches.end(),
              [](const CacheGrowth& a, const CacheGrowth& b) {
                  return std::abs(a.kib_per_end) > std::abs(b.kib_per_end);
              });
    cost.kib_per_end = counted_bytes / 1024.0 / n;
    cost.other_kib_per_end = other_bytes / 1024.0 / n;
    return cost;
}

nlohmann::json to_json(const SocketKernelCost& c) {
    nlohmann::json caches = nlohmann::json::array();
    for (const auto& cache : c.caches)
        caches.push_back({{"cache", cache.name},
                          {"kib_per_end", rounded(cache.kib_per_end, 1000)},
                          {"counted", cache.counted}});
    return {{"source", slab_source_name(c.source)},
            {"ends", c.ends},
            {"kib_per_end", rounded(c.kib_per_end, 1000)},
            {"other_kib_per_end", rounded(c.other_kib_per_end, 1000)},
            {"caches", caches}};
}

void from_json(const nlohmann::json& j, SocketKernelCost& c) {
    const std::string source = j.at("source");
    if (source == slab_source_name(SlabSource::slabinfo))
        c.source = SlabSource::slabinfo;
    else if (source == slab_source_name(SlabSource::meminfo))
        c.source = SlabSource::meminfo;
    else
        throw std::invalid_argument("source: '" + source + "' names no slab reading");
    c.ends = j.at("ends");
    c.kib_per_end = j.at("kib_per_end");
    c.other_kib_per_end = j.at("other_kib_per_end");
    c.caches.clear();
    for (const auto& cache : j.at("caches"))
        c.caches.push_back({cache.at("cache"), cache.at("kib_per_end"), cache.at("counted")});
}

}  // namespace tp
