// The child-run helper: what a child reports, how it failed or was killed, and a stop asked of
// the parent reaching the child, which a test asks for by signalling itself.
#include "child_run.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "stop_signal.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

}  // namespace

TEST_CASE("a child's report reaches the parent whole", "[child_run]") {
    const std::string big(100'000, 'x');  // more than a pipe holds at once
    tp::ChildRunOptions options;
    options.max_message_bytes = 1 << 20;
    options.crash_quietly = false;
    const auto outcome =
        tp::run_in_child([&](const tp::ChildChannel& channel) { channel.report(big); }, options);
    CHECK(outcome.reported());
    CHECK_FALSE(outcome.said_it_failed());
    CHECK(outcome.message == big);
}

TEST_CASE("a child that throws says why and exits kFailedExit", "[child_run]") {
    const auto outcome =
        tp::run_in_child([](const tp::ChildChannel&) { throw std::runtime_error("no room"); }, 10s);
    CHECK(outcome.said_it_failed());
    CHECK_FALSE(outcome.reported());
    CHECK(outcome.message == "no room");
    CHECK(outcome.describe() == "exit 3: no room");
}

TEST_CASE("a child past its timeout is killed and said to have timed out", "[child_run]") {
    const auto t0 = Clock::now();
    const auto outcome = tp::run_in_child([](const tp::ChildChannel&) { ::pause(); }, 200ms);
    CHECK(outcome.timed_out);
    CHECK_FALSE(outcome.reported());
    CHECK(outcome.describe() == "timed out");
    CHECK(Clock::now() - t0 < 5s);
}

TEST_CASE("a stop asked of the parent reaches the child, which reports", "[child_run]") {
    tp::StopSignal stop;
    tp::ChildRunOptions options;
    options.stop = &stop;
    options.stop_grace = 10s;
    options.crash_quietly = false;
    const pid_t parent = ::getpid();
    // The parent asks itself to stop once the child runs: kill(1) aimed at the parent alone.
    std::thread asker([parent] {
        std::this_thread::sleep_for(100ms);
        ::kill(parent, SIGTERM);
    });
    const auto t0 = Clock::now();
    const auto outcome = tp::run_in_child(
        [&](const tp::ChildChannel& channel) {
            // The child's copy of the stop signal sees the SIGTERM passed on to it.
            const bool stopped = stop.wait_for(30s);
            channel.report(stopped ? "stopped" : "not stopped");
        },
        options);
    asker.join();
    CHECK(outcome.reported());
    CHECK(outcome.message == "stopped");
    CHECK(Clock::now() - t0 < 10s);
    CHECK(stop.requested());
}

TEST_CASE("a child that ignores a stop is killed once the grace has run out", "[child_run]") {
    tp::StopSignal stop;
    tp::ChildRunOptions options;
    options.stop = &stop;
    options.stop_grace = 200ms;
    options.crash_quietly = false;
    REQUIRE(::kill(::getpid(), SIGTERM) == 0);  // pending before the child even starts
    const auto t0 = Clock::now();
    const auto outcome = tp::run_in_child(
        [](const tp::ChildChannel& channel) {
            std::this_thread::sleep_for(30s);
            channel.report("too late");
        },
        options);
    CHECK(outcome.killed_by(SIGKILL));
    CHECK_FALSE(outcome.timed_out);
    CHECK_FALSE(outcome.reported());
    CHECK(Clock::now() - t0 < 10s);
}
