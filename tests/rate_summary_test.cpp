#include <catch2/catch.hpp>
#include <cmath>

#include "rateprobe.hpp"

namespace {

// Readings every 100 ms at `rate(t)` requests a second.
template <typename Rate>
tp::RateProbeResult timeline(double seconds, Rate rate) {
    tp::RateProbeResult r;
    double answered = 0;
    for (int i = 0; i <= static_cast<int>(seconds * 10); ++i) {
        const double t = i / 10.0;
        r.readings.push_back({t, static_cast<std::uint64_t>(answered)});
        answered += rate(t) / 10.0;
    }
    return r;
}

}  // namespace

TEST_CASE("a steady rate is the baseline, and nothing else is claimed", "[rateprobe]") {
    auto r = timeline(3, [](double) { return 20000.0; });
    tp::summarize_rates(r);
    CHECK(r.baseline_rps == Approx(20000).epsilon(0.01));
    CHECK_FALSE(r.during_rps);
    CHECK_FALSE(r.drop_percent);
}

TEST_CASE("a collapse during the long request and the recovery after it", "[rateprobe]") {
    // 20000/s, then 100/s from 1.0 s to 2.0 s (the article's GIL shape), then 20000/s again.
    auto r = timeline(4, [](double t) { return t >= 1.0 && t < 2.0 ? 100.0 : 20000.0; });
    r.interference_start_s = 1.0;
    r.interference_end_s = 2.0;
    tp::summarize_rates(r);
    CHECK(r.baseline_rps == Approx(20000).epsilon(0.01));
    REQUIRE(r.during_rps);
    CHECK(*r.during_rps == Approx(100).epsilon(0.05));
    REQUIRE(r.drop_percent);
    CHECK(*r.drop_percent == Approx(99.5).epsilon(0.01));
    REQUIRE(r.recover_s);
    CHECK(*r.recover_s <= 0.2);
}

TEST_CASE("the time the long request shares the tiny requests' PU is not its effect",
          "[rateprobe]") {
    // Readings every 20 ms; fib(N) from 1.0 s to 1.3 s. Until it is moved to a PU of its own
    // (1.06 s) it halves the ping-pong's rate; after, the rate is the baseline's.
    tp::RateProbeResult r;
    double answered = 0;
    for (int i = 0; i <= 100; ++i) {
        const double t = i / 50.0;
        r.readings.push_back({t, static_cast<std::uint64_t>(answered)});
        answered += (t >= 1.0 && t < 1.06 ? 10000.0 : 20000.0) / 50.0;
    }
    r.interference_start_s = 1.0;
    r.interference_settled_s = 1.06;
    r.interference_end_s = 1.3;
    tp::summarize_rates(r);
    REQUIRE(r.drop_percent);
    CHECK(std::abs(*r.drop_percent) < 1.0);
    // Without the settling time the same readings show the placement's dip as a drop.
    r.interference_settled_s.reset();
    tp::summarize_rates(r);
    REQUIRE(r.drop_percent);
    CHECK(*r.drop_percent > 5.0);
}

TEST_CASE("a long request that outlives the run is measured to the end", "[rateprobe]") {
    // The pool's shape on two cores: 20000/s, then 12000/s from 1.0 s until the run ends.
    auto r = timeline(3, [](double t) { return t >= 1.0 ? 12000.0 : 20000.0; });
    r.interference_start_s = 1.0;
    tp::summarize_rates(r);
    REQUIRE(r.during_rps);
    CHECK(*r.during_rps == Approx(12000).epsilon(0.02));
    REQUIRE(r.drop_percent);
    CHECK(*r.drop_percent == Approx(40).epsilon(0.05));
    CHECK_FALSE(r.recover_s);  // it never ended, so nothing recovered
}

TEST_CASE("interference strings: N@TIME", "[rateprobe]") {
    const auto i = tp::parse_interference("40@2s");
    CHECK(i.n == 40);
    CHECK(i.at == std::chrono::seconds(2));
    CHECK(tp::parse_interference("5@250ms").at == std::chrono::milliseconds(250));
    for (const char* bad : {"40", "@2s", "40@", "x@1s", "93@1s", "40@soon", "-1@1s"})
        CHECK_THROWS_AS(tp::parse_interference(bad), std::invalid_argument);
}
