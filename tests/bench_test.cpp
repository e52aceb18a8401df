// The arithmetic behind every scripts/bench figure: medians, ratios paired by repetition, goals.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "stats.hpp"

using namespace tp::bench;

// The median itself is tp::median (tests/statistics_test.cpp); a series' median is that one.
TEST_CASE("a series' median is the middle repetition, or the mean of the two middle ones",
          "[bench]") {
    // One wild repetition (a busy neighbour) does not move it.
    CHECK(Series{{1.0, 1.1, 0.9, 40.0, 1.05}}.median() == 1.05);
    CHECK(Series{{4.0, 1.0, 3.0, 2.0}}.median() == 2.5);
}

TEST_CASE("median of nothing is an error, not zero", "[bench]") {
    CHECK_THROWS_AS(Series{}.median(), std::invalid_argument);
}

TEST_CASE("ratios pair repetitions one by one", "[bench]") {
    const Series probe{{1.2, 3.0, 0.9}};
    const Series bare{{1.0, 2.0, 1.0}};
    const Series ratio = paired_ratios(probe, bare);
    REQUIRE(ratio.values.size() == 3);
    CHECK(ratio.values[0] == Approx(1.2));
    CHECK(ratio.values[1] == Approx(1.5));
    CHECK(ratio.values[2] == Approx(0.9));
    CHECK(ratio.median() == Approx(1.2));
}

TEST_CASE("a repetition whose reference measured nothing is left out", "[bench]") {
    const Series ratio = paired_ratios(Series{{2.0, 5.0}}, Series{{1.0, 0.0}});
    REQUIRE(ratio.values.size() == 1);
    CHECK(ratio.values[0] == Approx(2.0));
}

TEST_CASE("ratios refuse series of different lengths", "[bench]") {
    CHECK_THROWS_AS(paired_ratios(Series{{1.0, 2.0}}, Series{{1.0}}), std::invalid_argument);
}

TEST_CASE("goals hold at their bound and say which way they point", "[bench]") {
    const Goal spawn{"spawn_vs_bare", 1.5, Goal::Direction::at_most, 1.5};
    CHECK(spawn.met());
    CHECK(spawn.text() == "<= 1.5");
    CHECK_FALSE(Goal{"spawn_vs_bare", 1.51, Goal::Direction::at_most, 1.5}.met());
    const Goal rate{"epoll_rate_vs_pingpong", 0.89, Goal::Direction::at_least, 0.9};
    CHECK_FALSE(rate.met());
    CHECK(rate.text() == ">= 0.9");
    CHECK(Goal{"epoll_rate_vs_pingpong", 0.9, Goal::Direction::at_least, 0.9}.met());
}

TEST_CASE("a series serializes as its median and every repetition, rounded", "[bench]") {
    const auto j = to_json(Series{{1.23456, 2.0, 3.0}}, 2);
    CHECK(j.at("median").get<double>() == Approx(2.0));
    REQUIRE(j.at("repetitions").size() == 3);
    CHECK(j.at("repetitions")[0].get<double>() == Approx(1.23));
    CHECK(to_json(Series{}).at("median").is_null());
}
