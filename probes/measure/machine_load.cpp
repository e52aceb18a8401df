#include "machine_load.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <sstream>

namespace tp {
namespace {

double seconds(const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
}

}  // namespace

CpuClock read_cpu_clock(const ProcFs& fs) {
    CpuClock c;
    c.wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (const auto text = read_small_file(fs.paths().proc / "stat")) {
        // "cpu  user nice system idle iowait irq softirq steal ...", in clock ticks, then one
        // "cpuN" line per online CPU. User and system time are sampled at ticks, which a
        // tickless kernel does not take on a CPU that idles between them: a ping-pong busy in
        // bursts shorter than a tick is mostly missed (seen: 0.53 cores counted for 0.77
        // used). Idle, interrupt and steal time are measured exactly; tasks had the rest.
        std::istringstream in(*text);
        std::string label;
        in >> label;
        double ticks[8] = {};
        for (double& t : ticks) in >> t;
        const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
        c.machine_idle_s = (ticks[3] + ticks[4]) / hz;
        c.interrupts_s = (ticks[5] + ticks[6]) / hz;
        c.steal_s = ticks[7] / hz;
        for (std::string line; std::getline(in, line);)
            if (line.rfind("cpu", 0) == 0 && line.size() > 3 && std::isdigit(line[3])) ++c.cpus;
    }
    rusage self{}, children{};
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &children);
    c.own_s = seconds(self.ru_utime) + seconds(self.ru_stime) + seconds(children.ru_utime) +
              seconds(children.ru_stime);
    return c;
}

MachineLoad load_between(const CpuClock& start, const CpuClock& end) {
    const double wall = end.wall_s - start.wall_s;
    if (wall <= 0) return {};
    const auto cores = [&](double CpuClock::*field) {
        return std::max(0.0, (end.*field - start.*field) / wall);
    };
    MachineLoad load;
    load.wall_s = wall;
    load.interrupt_cores = cores(&CpuClock::interrupts_s);
    load.steal_cores = cores(&CpuClock::steal_s);
    // Interrupts stay in: the kernel charges part of a task's loopback traffic to the task
    // (getrusage counts it) and part to softirq time, and cannot say which.
    load.busy_cores = std::max(0.0, end.cpus - cores(&CpuClock::machine_idle_s) - load.steal_cores);
    load.own_cores = cores(&CpuClock::own_s);
    return load;
}

nlohmann::json to_json(const MachineLoad& load) {
    const auto r2 = [](double v) { return std::round(v * 100) / 100; };
    return {{"wall_s", r2(load.wall_s)},
            {"busy_cores", r2(load.busy_cores)},
            {"own_cores", r2(load.own_cores)},
            {"other_cores", r2(load.other_cores())},
            {"interrupt_cores", r2(load.interrupt_cores)},
            {"steal_cores", r2(load.steal_cores)}};
}

std::string load_average(const ProcFs& fs) {
    const auto text = read_small_file(fs.paths().proc / "loadavg");
    if (!text) return "unknown";
    std::istringstream in(*text);
    std::string one, five, fifteen;
    in >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

}  // namespace tp
