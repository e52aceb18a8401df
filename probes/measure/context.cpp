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

void from_json(const nlohmann::json& j, CacheLevel& c) {
    c.level = j.at("level");
    c.type = j.at("type");
    c.size_bytes = j.at("size_bytes");
    c.count = j.at("count");
}

void from_json(const nlohmann::json& j, Topology& t) {
    t.packages = j.at("packages");
    t.cores = j.at("cores");
    t.pus = j.at("pus");
    t.numa_nodes = j.at("numa_nodes");
    t.caches = j.at("caches").get<std::vector<CacheLevel>>();
    t.cpu_model = j.at("cpu_model");
}

nlohmann::json to_json(const MachineContext& c) {
    nlohmann::json limits = nlohmann::json::array();
    for (const auto& r : c.limits) limits.push_back(to_json(r));
    return {{"time", c.time_utc}, {"host", c.host},           {"kernel", c.kernel},
            {"glibc", c.glibc},   {"page_size", c.page_size}, {"topology", to_json(c.topology)},
            {"limits", limits}};
}

void from_json(const nlohmann::json& j, MachineContext& c) {
    c.time_utc = j.at("time");
    c.host = j.at("host");
    c.kernel = j.at("kernel");
    c.glibc = j.at("glibc");
    c.page_size = j.at("page_size");
    c.topology = j.at("topology").get<Topology>();
    c.limits = j.at("limits").get<std::vector<LimitReading>>();
}

}  // namespace tp
