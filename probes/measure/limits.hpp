// The limits that can stop a program from creating one more thread or connection, read for
// one process, and the diagnosis of which of them fired. pthread_create says EAGAIN whatever
// stopped it; the kernel's counters, compared with their ceilings at that moment, say which.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "procfs.hpp"

namespace tp {

// Where one limit stands: `current` against `ceiling` (std::nullopt = unlimited), in `unit`.
struct LimitReading {
    std::string name;    // "threads-max", "pid_max", "RLIMIT_NPROC", "pids cgroup", ...
    std::string source;  // where both numbers came from
    std::string unit;    // "tasks", "mappings", "descriptors", "ports", "KiB"
    std::optional<std::uint64_t> current;
    std::optional<std::uint64_t> ceiling;
    // What one more thread (or connection) costs against this limit, in `unit`.
    double cost_per_thread = 1;
    // Part of the ceiling the kernel keeps back, in `unit` (pid_max: the 300 pids below
    // RESERVED_PIDS are not handed out again once pids wrap).
    std::uint64_t reserved = 0;
    // False where the kernel does not enforce it here (RLIMIT_NPROC for root, the commit
    // limit outside overcommit mode 2).
    bool enforced = true;
    std::string note;
    // The one change that moves this ceiling: "sysctl kernel.pid_max", "ulimit -n", ...
    std::string knob;

    // How many more threads fit under the ceiling; std::nullopt if unlimited or unknown.
    std::optional<double> headroom_threads() const;
};
// headroom_threads() is written too, for readers; read back, it is computed again from the
// cost per thread and the reserve, which is why both are written.
nlohmann::json to_json(const LimitReading& r);
void from_json(const nlohmann::json& j, LimitReading& r);

// The guard page glibc maps below each thread stack it allocates: one page by default (4 KiB
// on the machines this runs on). It is in the thread's mapping, so the address-space and commit
// limits count it. This is for forecasting headroom only; what a thread really costs is
// measured (stackprobe's guard_bytes, threadprobe's VSZ per thread).
inline constexpr std::uint64_t kThreadGuardBytes = 4096;

// What one more thread asks of the machine, so each limit's headroom can be counted in threads.
struct ThreadCost {
    std::uint64_t stack_bytes = 8 << 20;  // mapping size, guard included
    bool holds_connection = false;        // one more descriptor and (client side) port

    // A thread with a `stack_bytes` stack and glibc's guard page below it.
    static ThreadCost for_stack(std::uint64_t stack_bytes, bool holds_connection) {
        return {stack_bytes + kThreadGuardBytes, holds_connection};
    }
};

// The knob that moves the limit called `name`; empty for a name it does not know.
std::string knob_for(const std::string& name);

// Every limit DESIGN.md names, read for process `pid`.
std::vector<LimitReading> read_limits(const ProcFs& fs, pid_t pid, const ThreadCost& cost);

struct Diagnosis {
    std::string binding_limit;  // a LimitReading name, or "unknown"
    std::string evidence;       // "pid_max: 32762 of 32768 tasks (/proc/sys/kernel/pid_max ...)"
    std::vector<LimitReading> readings;
};
// {"binding_limit", "evidence", "readings"}: the keys a failure or a row carries its diagnosis in.
nlohmann::json to_json(const Diagnosis& d);
void from_json(const nlohmann::json& j, Diagnosis& d);

// A limit binds when it is enforced and fewer than `near_threads` more threads would fit
// under it; the tightest such limit is named. "unknown" when none is near its ceiling.
Diagnosis diagnose(std::vector<LimitReading> readings, double near_threads = 4);

}  // namespace tp
