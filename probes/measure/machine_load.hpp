// How busy the machine was while a program measured, and how much of that was the program
// itself (with the children it reaped: an embedded server, its workers): on a machine shared
// with other work, the load average alone cannot say (ten thousand runnable threads of a
// probe's own push it into the hundreds for a minute).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "procfs.hpp"

namespace tp {

// Cumulative CPU time of the whole machine (/proc/stat) and of this process with every child
// it has reaped (getrusage), in seconds.
struct CpuClock {
    double machine_idle_s = 0;  // all CPUs, idle and iowait
    double interrupts_s = 0;    // all CPUs, hard and soft interrupts (loopback traffic's too)
    double steal_s = 0;         // what a hypervisor gave other guests
    double cpus = 0;            // online, as /proc/stat lists them
    double own_s = 0;           // this process and its reaped descendants, user + system
    double wall_s = 0;          // steady clock
};
CpuClock read_cpu_clock(const ProcFs& fs);

// Between two readings, in cores busy on average.
struct MachineLoad {
    double wall_s = 0;
    double busy_cores = 0;  // not idle: this program, every other, and interrupts
    double own_cores = 0;
    // Of the busy time, interrupts (mostly a probe's own loopback traffic); apart from it, the
    // time a hypervisor gave other guests.
    double interrupt_cores = 0, steal_cores = 0;
    double other_cores() const { return busy_cores > own_cores ? busy_cores - own_cores : 0; }
};
MachineLoad load_between(const CpuClock& start, const CpuClock& end);
// {"wall_s", "busy_cores", "own_cores", "other_cores", "interrupt_cores", "steal_cores"}, what a
// probe's results record.
nlohmann::json to_json(const MachineLoad& load);

// /proc/loadavg's three averages, "0.52 0.61 0.70".
std::string load_average(const ProcFs& fs);

}  // namespace tp
