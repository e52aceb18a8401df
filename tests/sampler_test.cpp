// The sampler on fixture machines: a /proc read that fails marks the sample, it does not end
// the program.
#include "sampler.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "temp_tree.hpp"

namespace {

using namespace std::chrono_literals;

constexpr pid_t kProbePid = 4242;

// A machine with a process and a task count, and a meminfo only if asked for.
void write_machine(const tp::test::TempTree& tree, bool with_meminfo) {
    tree.write("proc/loadavg", "0.00 0.01 0.05 1/81 4242\n");
    tree.write("proc/4242/status",
               "Name:\tthreadprobe\nVmSize:\t    3760 kB\nVmRSS:\t    1892 kB\nThreads:\t3\n");
    if (with_meminfo)
        tree.write("proc/meminfo",
                   "MemTotal:  1000 kB\nMemAvailable:  600 kB\nKernelStack:  16 kB\n");
}

tp::ProcFs fixture_fs(const tp::test::TempTree& tree) {
    return tp::ProcFs({tree.root() / "proc", tree.root() / "sys"});
}

}  // namespace

TEST_CASE("a sample without meminfo is marked failed and keeps what was read", "[sampler]") {
    const tp::test::TempTree tree;
    write_machine(tree, false);
    const tp::Sampler sampler(fixture_fs(tree), kProbePid, std::nullopt, tp::Sampler::Clock::now());
    const tp::Sample s = sampler.take(tp::Phase::ramp, 7);
    CHECK(s.failed());
    CHECK_FALSE(s.system);
    REQUIRE(s.probe);
    CHECK(s.probe->threads == 3);
    CHECK(s.tasks == 81u);
    CHECK(s.connections == 7);

    write_machine(tree, true);
    const tp::Sample again = sampler.take(tp::Phase::ramp, 7);
    CHECK_FALSE(again.failed());
    REQUIRE(again.system);
    CHECK(again.system->mem_available_kib == 600);
}

TEST_CASE("the sampling thread goes on through failed samples and counts them", "[sampler]") {
    const tp::test::TempTree tree;
    write_machine(tree, false);
    const tp::Sampler sampler(fixture_fs(tree), kProbePid, std::nullopt, tp::Sampler::Clock::now());
    const tp::RunState state;
    tp::SamplingThread sampling(sampler, state, 5ms);
    sampling.record_now();
    std::this_thread::sleep_for(50ms);
    write_machine(tree, true);
    std::this_thread::sleep_for(50ms);
    sampling.record_now();
    const std::vector<tp::Sample> samples = sampling.finish();
    const tp::SamplerCost cost = sampling.cost();
    const auto failures = static_cast<std::uint64_t>(std::count_if(
        samples.begin(), samples.end(), [](const tp::Sample& s) { return s.failed(); }));
    // The first failed (no meminfo yet), the last did not: the thread outlived the failures.
    REQUIRE(samples.size() >= 2);
    CHECK(samples.front().failed());
    CHECK_FALSE(samples.back().failed());
    CHECK(failures >= 1);
    CHECK(cost.failed_samples == failures);
}
