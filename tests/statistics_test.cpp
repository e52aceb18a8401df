// tp::median and tp::percentile (server/base/statistics.hpp): the one definition every figure
// made of repeated readings goes through.
#include "statistics.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <stdexcept>
#include <vector>

using Doubles = std::vector<double>;
using Counts = std::vector<std::uint64_t>;

TEST_CASE("median of an odd count is the middle value, whatever the order", "[statistics]") {
    CHECK(tp::median(Doubles{3.0, 1.0, 2.0}) == 2.0);
    CHECK(tp::median(Doubles{5.0}) == 5.0);
    // One wild reading does not move it.
    CHECK(tp::median(Doubles{1.0, 1.1, 0.9, 40.0, 1.05}) == 1.05);
    CHECK(tp::median(Counts{1000, 320, 336}) == 336);
}

TEST_CASE("median of an even count is the mean of the two middle values", "[statistics]") {
    CHECK(tp::median(Doubles{4.0, 1.0, 3.0, 2.0}) == 2.5);
    CHECK(tp::median(Doubles{2.0, 2.0}) == 2.0);
    CHECK(tp::median(Counts{1000, 320, 320, 336}) == 328);
    // An integer mean that falls between two integers is rounded down.
    CHECK(tp::median(Counts{7, 4}) == 5);
    // Without overflowing on the way.
    CHECK(tp::median(Counts{UINT64_MAX, UINT64_MAX - 2}) == UINT64_MAX - 1);
}

TEST_CASE("median of nothing is an error, not zero", "[statistics]") {
    CHECK_THROWS_AS(tp::median(Doubles{}), std::invalid_argument);
    CHECK_THROWS_AS(tp::median(Counts{}), std::invalid_argument);
}

TEST_CASE("a nearest-rank percentile is always one of the values", "[statistics]") {
    const Doubles ten = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
    CHECK(tp::percentile(ten, 50) == 5);  // the lower middle, not the median 5.5
    CHECK(tp::percentile(ten, 90) == 9);
    CHECK(tp::percentile(ten, 91) == 10);
    CHECK(tp::percentile(ten, 100) == 10);
    CHECK(tp::percentile(ten, 0) == 1);
    CHECK(tp::percentile(ten, -5) == 1);
    CHECK(tp::percentile(Doubles{42}, 99) == 42);
    CHECK(tp::percentile(Counts{3, 1, 2}, 50) == 2);
    CHECK_THROWS_AS(tp::percentile(Doubles{}, 50), std::invalid_argument);
}
