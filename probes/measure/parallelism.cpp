#include "parallelism.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include "fib.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

// fib(35): about 12 ms, long enough for a scheduler to have placed the threads, short
// enough to repeat.
constexpr unsigned kN = 35;
constexpr int kTries = 3;

// The time for `threads` threads that start together to each compute fib(kN).
double compute_ms(unsigned threads) {
    std::atomic<std::uint64_t> sink{0};  // the results are used, so the work is done
    std::latch start(threads + 1);
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < threads; ++i)
        workers.emplace_back([&] {
            start.arrive_and_wait();
            sink += fib(kN);
        });
    const auto t0 = Clock::now();
    start.arrive_and_wait();
    for (auto& w : workers) w.join();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double best_of(unsigned threads) {
    double best = compute_ms(threads);
    for (int i = 1; i < kTries; ++i) best = std::min(best, compute_ms(threads));
    return best;
}

}  // namespace

ParallelSpeedup measure_parallel_speedup(unsigned threads) {
    ParallelSpeedup s;
    s.threads = threads;
    s.one_ms = best_of(1);
    s.together_ms = best_of(threads);
    return s;
}

}  // namespace tp
