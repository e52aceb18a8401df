#include "limits.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "json_fields.hpp"

namespace tp {
namespace {

constexpr std::uint64_t kKiB = 1024;

LimitReading reading(std::string name, std::string source, std::string unit,
                     std::optional<std::uint64_t> current, std::optional<std::uint64_t> ceiling,
                     double cost_per_thread = 1) {
    LimitReading r;
    r.name = std::move(name);
    r.source = std::move(source);
    r.unit = std::move(unit);
    r.current = current;
    r.ceiling = ceiling;
    r.cost_per_thread = cost_per_thread;
    return r;
}

// The process's cgroup directories for `controller` and every ancestor up to the mount, in
// the v2 unified hierarchy (also the hybrid layout's "unified" mount) and in v1's mount of
// that controller. A container's limit is usually on an ancestor of the process's own cgroup.
std::vector<std::filesystem::path> cgroup_dirs(const ProcFs& fs, pid_t pid,
                                               std::string_view controller) {
    std::vector<std::filesystem::path> dirs;
    const auto cgroups = read_small_file(fs.paths().proc / std::to_string(pid) / "cgroup");
    if (!cgroups) return dirs;
    std::istringstream in(*cgroups);
    std::string line;
    while (std::getline(in, line)) {
        // hierarchy-ID:controller-list:path
        const auto first = line.find(':');
        const auto second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::filesystem::path cgroup = line.substr(second + 1);
        std::filesystem::path mount;
        if (controllers.empty()) {
            mount = fs.paths().sys / "fs/cgroup";
            if (std::filesystem::exists(mount / "unified/cgroup.controllers")) mount /= "unified";
        } else {
            std::istringstream list(controllers);
            std::string c;
            bool has_it = false;
            while (std::getline(list, c, ','))
                if (c == controller) has_it = true;
            if (!has_it) continue;
            mount = fs.paths().sys / "fs/cgroup" / std::string(controller);
        }
        for (auto dir = mount / cgroup.relative_path();; dir = dir.parent_path()) {
            dirs.push_back(dir);
            if (dir == mount || !dir.has_relative_path() || dir.parent_path() == dir) break;
        }
    }
    return dirs;
}

void keep_tightest(std::optional<LimitReading>& tightest, LimitReading r) {
    if (!tightest || *r.headroom_threads() < *tightest->headroom_threads()) tightest = std::move(r);
}

// The pids controller's tightest ceiling for the process: its own cgroup or any ancestor.
// systemd's TasksMax= and a container runtime's pids limit are this controller's pids.max.
void add_pids_cgroup(const ProcFs& fs, pid_t pid, std::vector<LimitReading>& out) {
    std::optional<LimitReading> tightest;
    for (const auto& dir : cgroup_dirs(fs, pid, "pids")) {
        const auto max = read_number_file(dir / "pids.max");  // "max" reads as nullopt
        const auto current = read_number_file(dir / "pids.current");
        if (!max || !current) continue;
        LimitReading r = reading("pids cgroup", (dir / "pids.max").string(), "tasks", current, max);
        r.note = "systemd's TasksMax= and a container runtime's pids limit are this pids.max";
        keep_tightest(tightest, std::move(r));
    }
    if (tightest) out.push_back(*tightest);
}

// v1 writes "no limit" as the page counter's maximum rounded to pages, 0x7ffffffffffff000.
constexpr std::uint64_t kNoMemoryLimit = 1ull << 62;

// The memory controller's tightest ceiling: v2 memory.max against memory.current (memory.high
// noted: it throttles, it does not kill), or v1 memory.limit_in_bytes against usage_in_bytes.
// This limit is enforced by the OOM killer, not by pthread_create failing.
void add_memory_cgroup(const ProcFs& fs, pid_t pid, double kib_per_thread,
                       std::vector<LimitReading>& out) {
    std::optional<LimitReading> tightest;
    for (const auto& dir : cgroup_dirs(fs, pid, "memory")) {
        std::filesystem::path max_file = dir / "memory.max", current_file = dir / "memory.current";
        if (!std::filesystem::exists(max_file)) {
            max_file = dir / "memory.limit_in_bytes";
            current_file = dir / "memory.usage_in_bytes";
        }
        const auto max = read_number_file(max_file);
        const auto current = read_number_file(current_file);
        if (!max || !current || *max >= kNoMemoryLimit) continue;
        LimitReading r = reading("memory cgroup", max_file.string(), "KiB", *current / kKiB,
                                 *max / kKiB, kib_per_thread);
        r.note = "the OOM killer enforces it, not pthread_create";
        if (const auto high = read_number_file(dir / "memory.high"); high && *high < *max)
            r.note += fmt::format("; memory.high {} KiB throttles before it", *high / kKiB);
        keep_tightest(tightest, std::move(r));
    }
    if (tightest) out.push_back(*tightest);
}

}  // namespace

std::optional<double> LimitReading::headroom_threads() const {
    // A limit a thread costs nothing against (descriptors, for a thread without a connection)
    // is never reached by making threads.
    if (!ceiling || !current || cost_per_thread <= 0) return std::nullopt;
    const double room = static_cast<double>(*ceiling) - static_cast<double>(*current) -
                        static_cast<double>(reserved);
    return room / cost_per_thread;
}

std::string knob_for(const std::string& name) {
    static const std::pair<const char*, const char*> kKnobs[] = {
        {"threads-max", "sysctl kernel.threads-max"},
        {"pid_max", "sysctl kernel.pid_max"},
        {"RLIMIT_NPROC", "ulimit -u (systemd: LimitNPROC=)"},
        {"pids cgroup",
         "systemd: TasksMax=; docker run --pids-limit; Kubernetes: podPidsLimit; pids.max"},
        {"vm.max_map_count", "sysctl vm.max_map_count"},
        {"RLIMIT_NOFILE", "ulimit -n (systemd: LimitNOFILE=)"},
        {"ephemeral ports", "sysctl net.ipv4.ip_local_port_range"},
        {"commit limit", "sysctl vm.overcommit_ratio or vm.overcommit_kbytes; a smaller stack"},
        {"RLIMIT_AS", "ulimit -v (systemd: LimitAS=); a smaller stack"},
        {"memory", "more memory, or less resident per thread (--touch, the work each thread does)"},
        {"memory cgroup", "memory.max (docker run --memory; Kubernetes: resources.limits.memory)"},
    };
    for (const auto& [limit, knob] : kKnobs)
        if (name == limit) return knob;
    return "";
}

std::vector<LimitReading> read_limits(const ProcFs& fs, pid_t pid, const ThreadCost& cost) {
    std::vector<LimitReading> out;
    const auto tasks = fs.tasks();
    const auto pid_dir = fs.paths().proc / std::to_string(pid);
    const std::string limits_text = read_small_file(pid_dir / "limits").value_or("");
    const auto status = fs.process(pid);

    out.push_back(reading("threads-max", "/proc/sys/kernel/threads-max vs tasks in /proc/loadavg",
                          "tasks", tasks, fs.sysctl("kernel.threads-max")));
    LimitReading pids = reading("pid_max", "/proc/sys/kernel/pid_max vs tasks in /proc/loadavg",
                                "tasks", tasks, fs.sysctl("kernel.pid_max"));
    // Once pids wrap, allocation restarts at RESERVED_PIDS (300): those below it stay with
    // whatever took them at boot, so the last ~300 pids under the ceiling are out of reach.
    pids.reserved = 300;
    pids.note =
        "the kernel does not reuse the 300 pids below RESERVED_PIDS; on Linux >= 6.14 this is "
        "the pid namespace's own pid_max";
    out.push_back(pids);

    if (const auto nproc = parse_rlimit(limits_text, "Max processes")) {
        const auto id = fs.identity(pid);
        LimitReading r =
            reading("RLIMIT_NPROC",
                    "/proc/PID/limits 'Max processes' vs threads of the process's user", "tasks",
                    id ? std::optional(fs.tasks_of_user(id->real_uid)) : std::nullopt, nproc->soft);
        // The kernel skips this check for a task with CAP_SYS_RESOURCE or CAP_SYS_ADMIN (root).
        constexpr std::uint64_t kCapSysAdmin = 1ull << 21, kCapSysResource = 1ull << 24;
        if (id && (id->effective_caps & (kCapSysAdmin | kCapSysResource))) {
            r.enforced = false;
            r.note = "not enforced: the process has CAP_SYS_RESOURCE or CAP_SYS_ADMIN (root)";
        }
        out.push_back(r);
    }

    add_pids_cgroup(fs, pid, out);

    // Each thread stack is one mapping plus its guard page's.
    out.push_back(reading("vm.max_map_count",
                          "/proc/sys/vm/max_map_count vs lines of /proc/PID/maps", "mappings",
                          fs.map_count(pid), fs.sysctl("vm.max_map_count"), 2));

    if (cost.holds_connection) {
        if (const auto nofile = parse_rlimit(limits_text, "Max open files"))
            out.push_back(reading("RLIMIT_NOFILE",
                                  "/proc/PID/limits 'Max open files' vs /proc/PID/fd",
                                  "descriptors", fs.open_fds(pid), nofile->soft));
        const auto range = read_small_file(fs.paths().proc / "sys/net/ipv4/ip_local_port_range");
        if (range) {
            std::istringstream in(*range);
            std::uint64_t lo = 0, hi = 0;
            if (in >> lo >> hi && hi >= lo) {
                // Ports in use by this process's client sockets: its descriptors bound the count.
                out.push_back(
                    reading("ephemeral ports",
                            "/proc/sys/net/ipv4/ip_local_port_range vs the process's sockets",
                            "ports", fs.open_fds(pid), hi - lo + 1));
            }
        }
    }

    const auto memory = fs.system();
    const double stack_kib = static_cast<double>(cost.stack_bytes) / kKiB;
    if (memory) {
        const auto mode = fs.sysctl("vm.overcommit_memory");
        LimitReading commit =
            reading("commit limit", "/proc/meminfo Committed_AS vs CommitLimit", "KiB",
                    memory->committed_as_kib, memory->commit_limit_kib, stack_kib);
        if (mode.value_or(0) != 2) {
            commit.enforced = false;
            commit.note = fmt::format("vm.overcommit_memory is {}: only mode 2 enforces it",
                                      mode ? std::to_string(*mode) : "unknown");
        }
        out.push_back(commit);
    }
    if (const auto as = parse_rlimit(limits_text, "Max address space")) {
        out.push_back(reading("RLIMIT_AS", "/proc/PID/limits 'Max address space' vs VmSize", "KiB",
                              status ? std::optional(status->vsz_kib) : std::nullopt,
                              as->soft ? std::optional(*as->soft / kKiB) : std::nullopt,
                              stack_kib));
    }
    if (memory) {
        // A thread touches at least a page or two of its stack; the kernel also needs its own
        // stack for it. Count headroom in those, not in the virtual stack size.
        out.push_back(reading("memory", "/proc/meminfo MemTotal - MemAvailable vs MemTotal", "KiB",
                              memory->mem_total_kib - memory->mem_available_kib,
                              memory->mem_total_kib, 32));
    }
    add_memory_cgroup(fs, pid, 32, out);
    for (auto& r : out) r.knob = knob_for(r.name);
    return out;
}

nlohmann::json to_json(const LimitReading& r) {
    nlohmann::json j = {{"limit", r.name},
                        {"current", optional_json(r.current)},
                        {"ceiling", optional_json(r.ceiling)},
                        {"unit", r.unit},
                        {"cost_per_thread", r.cost_per_thread},
                        {"enforced", r.enforced},
                        {"reserved", r.reserved},
                        {"source", r.source}};
    if (const auto room = r.headroom_threads()) j["headroom_threads"] = *room;
    if (!r.note.empty()) j["note"] = r.note;
    if (!r.knob.empty()) j["knob"] = r.knob;
    return j;
}

void from_json(const nlohmann::json& j, LimitReading& r) {
    r.name = j.at("limit");
    r.source = j.at("source");
    r.unit = j.at("unit");
    r.current = optional_from_json<std::uint64_t>(j.at("current"));
    r.ceiling = optional_from_json<std::uint64_t>(j.at("ceiling"));
    r.cost_per_thread = j.at("cost_per_thread");
    r.reserved = j.at("reserved");
    r.enforced = j.at("enforced");
    r.note = j.value("note", "");
    r.knob = j.value("knob", "");
}

nlohmann::json to_json(const Diagnosis& d) {
    nlohmann::json readings = nlohmann::json::array();
    for (const auto& r : d.readings) readings.push_back(to_json(r));
    return {{"binding_limit", d.binding_limit}, {"evidence", d.evidence}, {"readings", readings}};
}

void from_json(const nlohmann::json& j, Diagnosis& d) {
    d.binding_limit = j.at("binding_limit");
    d.evidence = j.at("evidence");
    d.readings = j.at("readings").get<std::vector<LimitReading>>();
}

Diagnosis diagnose(std::vector<LimitReading> readings, double near_threads) {
    Diagnosis d;
    const LimitReading* binding = nullptr;
    for (const auto& r : readings) {
        const auto room = r.headroom_threads();
        if (!r.enforced || !room || *room >= near_threads) continue;
        if (!binding || *room < *binding->headroom_threads()) binding = &r;
    }
    if (binding) {
        d.binding_limit = binding->name;
        d.evidence = fmt::format(
            "{}: {} of {} {}{} ({})", binding->name, *binding->current, *binding->ceiling,
            binding->unit,
            binding->reserved ? fmt::format(", {} of them reserved", binding->reserved) : "",
            binding->source);
    } else {
        d.binding_limit = "unknown";
        d.evidence = "no limit read was within a few threads of its ceiling";
    }
    d.readings = std::move(readings);
    return d;
}

}  // namespace tp
