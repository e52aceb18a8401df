// The connection ramp on its own, without a probe around it: what ends it, how that is told, and
// the count it hands the sampler. Threads park (no server) unless a test gives them one.
#include "connection_ramp.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string_view>

#include "net.hpp"
#include "stop_signal.hpp"

namespace {

using namespace std::chrono_literals;

const auto kAlive = [] { return true; };
const auto kQuiet = [](std::string_view) {};

tp::ConnectionThreadConfig parked() {
    tp::ConnectionThreadConfig c;
    c.stack = 64 * 1024;
    return c;
}

tp::RampConfig ramp_of(std::uint64_t target) {
    tp::RampConfig c;
    c.target = target;
    c.cost = tp::ThreadCost::for_stack(64 * 1024, false);
    c.settle_timeout = 5s;
    return c;
}

}  // namespace

TEST_CASE("a ramp to its target: every thread up, no failure, the count handed on", "[ramp]") {
    tp::StopSignal stop;
    tp::RunState state;
    tp::ConnectionRamp ramp(tp::ProcFs{}, parked(), ramp_of(200), &state);
    const tp::RampResult r = ramp.run(stop, kAlive, kQuiet);
    CHECK(r.stopped_by == tp::RampStop::target_reached);
    CHECK(r.outcome() == tp::RampStop::target_reached);
    CHECK_FALSE(r.failure);
    CHECK_FALSE(r.diagnosis);
    CHECK(r.settled);
    CHECK(ramp.threads().connected() == 200);
    CHECK(state.connections == 200);
    ramp.release();
    CHECK(state.connections == 0);
}

TEST_CASE("a stop asked for before the ramp spawns nothing", "[ramp]") {
    tp::StopSignal stop;
    REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    tp::ConnectionRamp ramp(tp::ProcFs{}, parked(), ramp_of(200));
    const tp::RampResult r = ramp.run(stop, kAlive, kQuiet);
    CHECK(r.stopped_by == tp::RampStop::interrupted);
    CHECK(ramp.threads().spawned() == 0);
    CHECK_FALSE(r.failure);
}

TEST_CASE("a server gone, a time limit and a memory floor each end a ramp by name", "[ramp]") {
    tp::StopSignal stop;
    {
        tp::ConnectionRamp ramp(tp::ProcFs{}, parked(), ramp_of(200));
        CHECK(ramp.run(
                      stop, [] { return false; }, kQuiet)
                  .stopped_by == tp::RampStop::server_died);
    }
    {
        // Looked at every batch of threads: far fewer than a million fit in a millisecond.
        auto config = ramp_of(1'000'000);
        config.time_limit = 1ms;
        tp::ConnectionRamp ramp(tp::ProcFs{}, parked(), config);
        const tp::RampResult r = ramp.run(stop, kAlive, kQuiet);
        CHECK(r.stopped_by == tp::RampStop::time_limit);
        CHECK(ramp.threads().spawned() < 1'000'000);
    }
    {
        // A floor at 99.9% of memory: MemAvailable is below it before the first thread.
        auto config = ramp_of(200);
        config.memory_floor_percent = 99.9;
        tp::ConnectionRamp ramp(tp::ProcFs{}, parked(), config);
        const tp::RampResult r = ramp.run(stop, kAlive, kQuiet);
        CHECK(r.stopped_by == tp::RampStop::memory_floor);
        CHECK(r.error == "MemAvailable below 100% of memory");
        CHECK_FALSE(r.failure);  // the probe's own floor, not a limit the kernel met
    }
}

TEST_CASE("a connect that fails ends the ramp, diagnosed, at the thread that saw it", "[ramp]") {
    // A port nobody listens on any more: connect is refused.
    tp::Endpoint closed{"127.0.0.1", 0};
    {
        const tp::Fd listener = tp::listen_tcp("127.0.0.1", 0, 1);
        closed.port = tp::local_port(listener.get());
    }
    tp::ConnectionThreadConfig threads = parked();
    threads.server = closed;
    auto config = ramp_of(500);
    config.cost.holds_connection = true;
    tp::StopSignal stop;
    tp::ConnectionRamp ramp(tp::ProcFs{}, threads, config);
    const tp::RampResult r = ramp.run(stop, kAlive, kQuiet);
    CHECK(r.stopped_by == tp::RampStop::connect);
    REQUIRE(r.failure);
    CHECK(*r.failure == tp::RampStop::connect);
    CHECK(std::string(tp::ramp_stop_label(r.outcome())) == "connect failed");
    CHECK_THAT(r.error, Catch::Contains("Connection refused"));
    REQUIRE(r.diagnosis);
    CHECK_FALSE(r.diagnosis->readings.empty());
    // It stops at the first failure it sees: well short of the target.
    CHECK(ramp.threads().spawned() < 500);
    CHECK(r.failed_at_thread < ramp.threads().spawned());
    CHECK(ramp.threads().connected() == 0);
}

TEST_CASE("every stop has a label, and the label names it back", "[ramp]") {
    using tp::RampStop;
    for (const RampStop s :
         {RampStop::target_reached, RampStop::pthread_create, RampStop::connect, RampStop::request,
          RampStop::reply, RampStop::refused, RampStop::descriptor_budget, RampStop::memory_floor,
          RampStop::time_limit, RampStop::interrupted, RampStop::server_died}) {
        const std::string label = tp::ramp_stop_label(s);
        INFO(label);
        CHECK(label != "?");
        CHECK(tp::ramp_stop_from_label(label) == s);
    }
    CHECK_FALSE(tp::ramp_stop_from_label("unknown"));
}
