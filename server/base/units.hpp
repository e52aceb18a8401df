// Units on the command line and in reports: sizes in binary multiples (64k = 65536 bytes),
// durations with an explicit unit (100ms, 2s). Shared by the server and every probe so that
// `--stack 64k` means the same thing everywhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tp {

// Thrown for text that is not a valid size or duration; what() is one line naming the reason.
class UnitError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// "65536", "64k", "64K", "64KiB", "64 KiB", "1m", "8MiB", "1g". Multiples are powers of 1024;
// "KB"/"MB" are rejected as ambiguous rather than silently read as either 1000 or 1024.
std::uint64_t parse_size(std::string_view text);

// "100ms", "2s", "1.5s", "2.00 s", "250us", "1min". A bare number is seconds, as in wrk.
std::chrono::nanoseconds parse_duration(std::string_view text);

// Human forms for tables: "64 KiB", "8 MiB", "68.0 KiB" (one decimal where it is not exact).
std::string format_size(std::uint64_t bytes);
std::string format_kib(double kib);
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace tp
