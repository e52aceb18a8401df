#include "parallelism.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fib.hpp"
#include "topology.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

// fib(35): about 7 ms here, long enough for a scheduler to have placed the threads, short
// enough to repeat.
constexpr unsigned kN = 35;
constexpr int kTries = 3;
// The speed check's: fib(32), about 1.5 ms here, a fifth of the parallelism check's work; the
// host's slow spells last far longer, and an experiment has one check on each side.
constexpr unsigned kSpeedN = 32;
constexpr int kSpeedTries = 3;

// The time for `threads` threads to each compute fib(kN), from when all of them are running,
// each bound to a PU of its own (round the usable ones, from the `first`): the question is whether
// the machine has the PUs, and where the scheduler puts two new threads for a few milliseconds is
// another one (left free, both often stayed on one PU for the whole of it). They spin, not sleep,
// until every one has started: on a virtual machine, waking a halted virtual CPU can take
// milliseconds, which is the hypervisor's latency and not a lack of processing units.
double compute_ms(unsigned threads, const std::vector<std::string>& pus, std::size_t first = 0) {
    std::atomic<std::uint64_t> sink{0};  // the results are used, so the work is done
    std::atomic<unsigned> running{0};
    std::atomic<bool> go{false};
    Clock::time_point t0;  // written by the last worker to start, before `go`
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < threads; ++i)
        workers.emplace_back([&, i] {
            try {
                if (!pus.empty()) bind_calling_thread(pus[(first + i) % pus.size()]);
            } catch (const std::system_error&) {
                // Not allowed to bind (a restricted container): measured where it runs.
            }
            // The last one to start sets them going: the clock starts with every worker on a
            // CPU, and not in a thread the scheduler might preempt in between.
            if (running.fetch_add(1) + 1 == threads) {
                t0 = Clock::now();
                go.store(true, std::memory_order_release);
            }
            while (!go.load(std::memory_order_acquire)) {
            }
            sink += fib(kN);
        });
    for (auto& w : workers) w.join();  // the join orders t0's write before this read
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

ParallelSpeedup measure_parallel_speedup(unsigned threads) {
    ParallelSpeedup s;
    s.threads = threads;
    const auto pus = usable_pus_each();
    // A first computation, not counted, lets the CPU leave its idle clock; then one alone and
    // all together alternate, so that a clock still rising, or other work coming and going on
    // the machine, falls on both alike. Measured all of one then all of the other, a slow
    // start made one thread look slower than it is (a "speedup" of 2.54 with 2 threads).
    // The one alone takes the PUs in turn and keeps its best: a host that slowed the first PU
    // for the tries alone, and not for a try together, made one thread look slower than the
    // machine computes (a "speedup" of 2.59 with 2 threads, in CI).
    compute_ms(1, pus);
    s.one_ms = compute_ms(1, pus, 0);
    s.together_ms = compute_ms(threads, pus);
    for (int i = 1; i < kTries; ++i) {
        s.one_ms = std::min(s.one_ms, compute_ms(1, pus, static_cast<std::size_t>(i)));
        s.together_ms = std::min(s.together_ms, compute_ms(threads, pus));
    }
    return s;
}

SpeedCheck check_pu_speeds() {
    SpeedCheck check;
    check.fib_n = kSpeedN;
    for (const auto& pu : usable_pus_each()) {
        double best_ms = INFINITY;
        // One thread a PU, bound once (hwloc reads the topology from sysfs at every binding).
        std::thread on_pu([&] {
            try {
                bind_calling_thread(pu);
            } catch (const std::system_error&) {
                // Not allowed to bind (a restricted container): measured where it runs.
            }
            std::atomic<std::uint64_t> sink{0};  // the results are used, so the work is done
            for (int i = 0; i <= kSpeedTries; ++i) {
                const auto start = Clock::now();
                sink += fib(kSpeedN);
                const double ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - start).count();
                if (i > 0) best_ms = std::min(best_ms, ms);  // the first: the PU leaves idle
            }
        });
        on_pu.join();
        check.pus.push_back({pu, best_ms});
    }
    return check;
}

nlohmann::json to_json(const std::optional<SpeedCheck>& check) {
    if (!check) return nullptr;
    nlohmann::json pus = nlohmann::json::array();
    for (const auto& p : check->pus)
        pus.push_back({{"pu", p.pu}, {"fib_ms", std::round(p.fib_ms * 1000) / 1000}});
    return {{"fib_n", check->fib_n}, {"pus", pus}};
}

}  // namespace tp
