#include "fib.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

TEST_CASE("fib follows the article's definition, fib(0) included", "[fib]") {
    CHECK(tp::fib(0) == 1);  // n <= 2 -> 1, as in the article, not the textbook's 0
    CHECK(tp::fib(1) == 1);
    CHECK(tp::fib(2) == 1);
    CHECK(tp::fib(3) == 2);
    CHECK(tp::fib(10) == 55);
    CHECK(tp::fib(20) == 6765);
    CHECK(tp::fib(30) == 832040);
}

TEST_CASE("fib(40) by the naive recursion", "[fib][slow]") {
    CHECK(tp::fib(40) == 102334155);  // a fraction of a second: the recursion is exponential
}

TEST_CASE("the recursion and the iteration agree", "[fib]") {
    for (unsigned n = 0; n <= 25; ++n) {
        INFO("n = " << n);
        CHECK(tp::fib(n) == tp::fib_by_iteration(n));
    }
}

TEST_CASE("92 is the largest n whose fib fits in a signed 64-bit integer", "[fib]") {
    // Checked by iteration: the naive recursion would take centuries at 92.
    STATIC_REQUIRE(tp::kFibMaxN == 92);
    constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    CHECK(tp::fib_by_iteration(92) == 7540113804746346429ULL);
    CHECK(tp::fib_by_iteration(92) <= int64_max);
    CHECK(tp::fib_by_iteration(93) == 12200160415121876738ULL);
    CHECK(tp::fib_by_iteration(93) > int64_max);
}
