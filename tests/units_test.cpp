#include "units.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

using namespace std::chrono_literals;

TEST_CASE("sizes are binary multiples with or without the iB", "[units]") {
    CHECK(tp::parse_size("65536") == 65536);
    CHECK(tp::parse_size("64k") == 64 * 1024);
    CHECK(tp::parse_size("64K") == 64 * 1024);
    CHECK(tp::parse_size("64KiB") == 64 * 1024);
    CHECK(tp::parse_size("1m") == 1024 * 1024);
    CHECK(tp::parse_size("8MiB") == 8ull * 1024 * 1024);
    CHECK(tp::parse_size("1g") == 1ull << 30);
    CHECK(tp::parse_size(" 16k ") == 16 * 1024);
    // As format_size prints it, so a size a program shows can be typed back.
    CHECK(tp::parse_size("64 KiB") == 64 * 1024);
}

TEST_CASE("bad sizes are rejected with the reason", "[units]") {
    CHECK_THROWS_WITH(tp::parse_size("12q"), Catch::Contains("unknown unit 'q'"));
    CHECK_THROWS_WITH(tp::parse_size("-1"), Catch::Contains("negative"));
    CHECK_THROWS_WITH(tp::parse_size(""), Catch::Contains("empty"));
    CHECK_THROWS_WITH(tp::parse_size("k"), Catch::Contains("does not start with a number"));
    CHECK_THROWS_WITH(tp::parse_size("64KB"), Catch::Contains("ambiguous"));
    CHECK_THROWS_WITH(tp::parse_size("99999999999999999999"), Catch::Contains("too large"));
    // Fits before the multiplier, overflows after it.
    CHECK_THROWS_WITH(tp::parse_size("17179869184g"), Catch::Contains("too large"));
    CHECK_THROWS_AS(tp::parse_size("1.5k"), tp::UnitError);
    // The unit named is the one written, whatever blanks come before the number.
    CHECK_THROWS_WITH(tp::parse_size("  12q"), Catch::Contains("unknown unit 'q'"));
}

TEST_CASE("durations carry a unit, a bare number is seconds", "[units]") {
    CHECK(tp::parse_duration("100ms") == 100ms);
    CHECK(tp::parse_duration("2s") == 2s);
    CHECK(tp::parse_duration("2") == 2s);
    CHECK(tp::parse_duration("1.5s") == 1500ms);
    CHECK(tp::parse_duration("250us") == 250us);
    CHECK(tp::parse_duration("1min") == 60s);
    CHECK(tp::parse_duration("2.00 s") == 2s);  // as format_duration prints it
    // Too many digits for a double, but plainly shorter than a nanosecond (found by fuzzing).
    CHECK(tp::parse_duration("0." + std::string(400, '0') + "1s") == 0ns);
}

TEST_CASE("bad durations are rejected with the reason", "[units]") {
    CHECK_THROWS_WITH(tp::parse_duration("12q"), Catch::Contains("unknown unit 'q'"));
    CHECK_THROWS_WITH(tp::parse_duration("-1s"), Catch::Contains("negative"));
    CHECK_THROWS_WITH(tp::parse_duration(""), Catch::Contains("empty"));
    CHECK_THROWS_WITH(tp::parse_duration("1e400s"), Catch::Contains("unknown unit"));
    CHECK_THROWS_WITH(tp::parse_duration("99999999999h"), Catch::Contains("too long"));
    CHECK_THROWS_WITH(tp::parse_duration("1" + std::string(400, '0') + "ns"),
                      Catch::Contains("too long"));
    CHECK_THROWS_WITH(tp::parse_duration(" 5q"), Catch::Contains("unknown unit 'q'"));
}

TEST_CASE("sizes format in binary units", "[units]") {
    CHECK(tp::format_size(64 * 1024) == "64 KiB");
    CHECK(tp::format_size(8ull << 20) == "8 MiB");
    CHECK(tp::format_size(100) == "100 B");
    CHECK(tp::format_size(69632 + 512) == "68.5 KiB");
    CHECK(tp::format_kib(8.44) == "8.4 KiB");
    // Above 2^53 a double would round this to a multiple of 1 GiB (found by fuzzing).
    CHECK(tp::format_size(UINT64_MAX) != "17179869184 GiB");
    CHECK(tp::format_size(UINT64_MAX - (UINT64_MAX % (1ull << 30))) == "17179869183 GiB");
}
