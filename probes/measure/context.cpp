#include "context.hpp"

#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

namespace tp {
namespace {

std::string now_utc() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

template <typename T>
nlohmann::json optional_json(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

MachineContext read_machine_context(const ProcFs& fs, pid_t pid, const ThreadCost& cost) {
    MachineContext c;
    c.time_utc = now_utc();
    utsname u{};
    if (::uname(&u) == 0) {
        c.host = u.nodename;
        c.kernel = std::string(u.sysname) + " " + u.release + " " + u.version;
    }
    c.glibc = ::gnu_get_libc_version();
    c.page_size = ::sysconf(_SC_PAGESIZE);
    c.topology = read_topology();
    c.limits = read_limits(fs, pid, cost);
    return c;
}

nlohmann::json to_json(const ProcessMemory& m) {
    return {{"vsz_kib", m.vsz_kib},
            {"rss_kib", m.rss_kib},
            {"rss_anon_kib", m.rss_anon_kib},
            {"pte_kib", m.pte_kib},
            {"threads", m.threads}};
}

nlohmann::json to_json(const SystemMemory& m) {
    return {{"mem_total_kib", m.mem_total_kib},
            {"mem_available_kib", m.mem_available_kib},
            {"kernel_stack_kib", m.kernel_stack_kib},
            {"committed_as_kib", m.committed_as_kib},
            {"commit_limit_kib", m.commit_limit_kib}};
}

nlohmann::json to_json(const LimitReading& r) {
    nlohmann::json j = {{"limit", r.name},
                        {"current", optional_json(r.current)},
                        {"ceiling", optional_json(r.ceiling)},
                        {"unit", r.unit},
                        {"enforced", r.enforced},
                        {"reserved", r.reserved},
                        {"source", r.source}};
    if (const auto room = r.headroom_threads()) j["headroom_threads"] = *room;
    if (!r.note.empty()) j["note"] = r.note;
    return j;
}

nlohmann::json to_json(const Topology& t) {
    nlohmann::json caches = nlohmann::json::array();
    for (const auto& c : t.caches)
        caches.push_back({{"level", c.level},
                          {"type", c.type},
                          {"size_bytes", c.size_bytes},
                          {"count", c.count}});
    return {{"packages", t.packages},     {"cores", t.cores}, {"pus", t.pus},
            {"numa_nodes", t.numa_nodes}, {"caches", caches}, {"cpu_model", t.cpu_model},
            {"summary", t.summary()}};
}

nlohmann::json to_json(const MachineContext& c) {
    nlohmann::json limits = nlohmann::json::array();
    for (const auto& r : c.limits) limits.push_back(to_json(r));
    return {{"time", c.time_utc}, {"host", c.host},           {"kernel", c.kernel},
            {"glibc", c.glibc},   {"page_size", c.page_size}, {"topology", to_json(c.topology)},
            {"limits", limits}};
}

}  // namespace tp
