#include "summary.hpp"

#include <catch2/catch.hpp>

namespace {

tp::Sample sample(tp::Phase phase, std::uint64_t probe_threads, std::uint64_t probe_vsz,
                  std::uint64_t probe_rss, std::uint64_t server_threads,
                  std::uint64_t kernel_stack) {
    tp::Sample s;
    s.phase = phase;
    s.probe = tp::ProcessMemory{probe_vsz, probe_rss, probe_rss, 100, probe_threads};
    s.server = tp::ProcessMemory{50000, 3000, 1000, 80, server_threads};
    s.system.emplace();
    s.system->kernel_stack_kib = kernel_stack;
    s.system->committed_as_kib = 1000;
    return s;
}

// A sample whose /proc/meminfo read failed; its process readings may still be there.
tp::Sample failed(tp::Sample s) {
    s.system.reset();
    return s;
}

}  // namespace

TEST_CASE("per-thread cost is the baseline-to-plateau slope over threads added", "[summary]") {
    using tp::Phase;
    // 100 threads added on each side: +6800 KiB VSZ and +840 KiB RSS on the probe's side,
    // +3200 KiB of kernel stacks for 200 tasks.
    const std::vector<tp::Sample> samples = {
        sample(Phase::baseline, 2, 10000, 2000, 1, 1000),
        sample(Phase::baseline, 2, 10000, 2000, 1, 1000),
        sample(Phase::ramp, 50, 13000, 2400, 50, 2600),
        sample(Phase::hold, 102, 16800, 2840, 101, 4200),
        // One outlier in the hold phase must not move the median.
        sample(Phase::hold, 102, 99999, 9999, 101, 4200),
        sample(Phase::hold, 102, 16800, 2840, 101, 4200),
        sample(Phase::teardown, 2, 16800, 2100, 1, 1000),
    };
    const auto c = tp::summarize_costs(samples);
    REQUIRE(c.probe);
    CHECK(c.probe->threads_added == 100);
    CHECK(c.probe->vsz_per_thread_kib == Approx(68.0));
    CHECK(c.probe->rss_per_thread_kib == Approx(8.4));
    REQUIRE(c.server);
    CHECK(c.server->threads_added == 100);
    REQUIRE(c.system);
    CHECK(c.system->tasks_added == 200);
    CHECK(c.system->kernel_stack_per_task_kib == Approx(16.0));
}

TEST_CASE("no hold phase means no cost figures rather than made-up ones", "[summary]") {
    const std::vector<tp::Sample> samples = {sample(tp::Phase::baseline, 2, 10000, 2000, 1, 1000)};
    const auto c = tp::summarize_costs(samples);
    CHECK_FALSE(c.probe);
    CHECK_FALSE(c.system);
}

TEST_CASE("a machine task count that moved by more than the probe's says other activity",
          "[summary]") {
    using tp::Phase;
    auto with_tasks = [](tp::Sample s, std::uint64_t tasks) {
        s.tasks = tasks;
        return s;
    };
    const auto base = sample(Phase::baseline, 2, 10000, 2000, 1, 1000);
    const auto hold = sample(Phase::hold, 102, 16800, 2840, 101, 4200);
    // 200 tasks added by probe and server; the machine gained exactly those.
    const auto quiet = tp::summarize_costs({with_tasks(base, 500), with_tasks(hold, 700)});
    REQUIRE(quiet.system);
    CHECK(quiet.system->machine_tasks_added == 200);
    CHECK_FALSE(quiet.system->other_activity());
    // Something else started 300 threads meanwhile.
    const auto busy = tp::summarize_costs({with_tasks(base, 500), with_tasks(hold, 1000)});
    REQUIRE(busy.system);
    CHECK(busy.system->other_activity());
}

TEST_CASE("a phase of an even count of samples reads as the mean of its two middle ones",
          "[summary]") {
    using tp::Phase;
    // Hold samples of 16800 and 17000 KiB VSZ: the plateau is 16900, 69 KiB a thread over 100
    // threads; the upper middle alone would say 70.
    const std::vector<tp::Sample> samples = {
        sample(Phase::baseline, 2, 10000, 2000, 1, 1000),
        sample(Phase::hold, 102, 16800, 2840, 101, 4200),
        sample(Phase::hold, 102, 17000, 2840, 101, 4200),
    };
    const auto c = tp::summarize_costs(samples);
    REQUIRE(c.probe);
    CHECK(c.probe->vsz_per_thread_kib == Approx(69.0));
}

TEST_CASE("failed samples are left out of the medians", "[summary]") {
    using tp::Phase;
    // Were the failed baseline sample counted, the baseline would be the median of 10000 and
    // 12000 KiB, 11000, and the slope 58 KiB a thread, not 68.
    const std::vector<tp::Sample> samples = {
        sample(Phase::baseline, 2, 10000, 2000, 1, 1000),
        failed(sample(Phase::baseline, 2, 12000, 2000, 1, 1000)),
        sample(Phase::hold, 102, 16800, 2840, 101, 4200),
    };
    const auto c = tp::summarize_costs(samples);
    REQUIRE(c.probe);
    CHECK(c.probe->vsz_per_thread_kib == Approx(68.0));
    REQUIRE(c.system);
    CHECK(c.system->kernel_stack_per_task_kib == Approx(16.0));

    // A phase whose every sample failed has no plateau: no figures rather than made-up ones.
    const auto none =
        tp::summarize_costs({sample(Phase::baseline, 2, 10000, 2000, 1, 1000),
                             failed(sample(Phase::hold, 102, 16800, 2840, 101, 4200))});
    CHECK_FALSE(none.probe);
    CHECK_FALSE(none.system);
}
