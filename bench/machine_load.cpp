#include "machine_load.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

namespace tp::bench {
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
        // "cpu  user nice system idle iowait irq softirq steal ...", in clock ticks.
        std::istringstream in(*text);
        std::string label;
        in >> label;
        double ticks[8] = {};
        for (double& t : ticks) in >> t;
        const double busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7];
        c.machine_busy_s = busy / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    rusage self{}, children{};
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &children);
    c.bench_s = seconds(self.ru_utime) + seconds(self.ru_stime) + seconds(children.ru_utime) +
                seconds(children.ru_stime);
    return c;
}

MachineLoad load_between(const CpuClock& start, const CpuClock& end) {
    const double wall = end.wall_s - start.wall_s;
    if (wall <= 0) return {};
    return {(end.machine_busy_s - start.machine_busy_s) / wall,
            (end.bench_s - start.bench_s) / wall};
}

std::string load_average(const ProcFs& fs) {
    const auto text = read_small_file(fs.paths().proc / "loadavg");
    if (!text) return "unknown";
    std::istringstream in(*text);
    std::string one, five, fifteen;
    in >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

}  // namespace tp::bench
