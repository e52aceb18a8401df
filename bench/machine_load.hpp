// How busy the machine was while the bench ran, and how much of that was the bench itself: on a
// machine shared with other work, the load average alone cannot say (ten thousand runnable
// threads of the bench's own push it into the hundreds for a minute).
#pragma once

#include <optional>
#include <string>

#include "procfs.hpp"

namespace tp::bench {

// Cumulative CPU time of the whole machine (/proc/stat) and of this process with every child
// it has reaped (getrusage), in seconds.
struct CpuClock {
    double machine_busy_s = 0;  // all CPUs, everything but idle and iowait
    double bench_s = 0;         // this process and its reaped descendants, user + system
    double wall_s = 0;          // steady clock
};
CpuClock read_cpu_clock(const ProcFs& fs);

// Between two readings, in cores busy on average.
struct MachineLoad {
    double busy_cores = 0;
    double bench_cores = 0;
    double other_cores() const { return busy_cores > bench_cores ? busy_cores - bench_cores : 0; }
};
MachineLoad load_between(const CpuClock& start, const CpuClock& end);

// /proc/loadavg's three averages, "0.52 0.61 0.70".
std::string load_average(const ProcFs& fs);

}  // namespace tp::bench
