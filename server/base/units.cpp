#include "units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace tp {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_blank(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    return text;
}

// Splits "64KiB" into digits "64" and unit "KiB" (as written, for messages) and "kib" (to
// compare), trimming blanks around the value and between number and unit: "64 KiB" is how
// format_size prints a size, so what a program shows can be typed back.
struct NumberAndUnit {
    std::string_view number;
    std::string_view unit_as_written;
    std::string unit;
};

NumberAndUnit split(std::string_view text, bool allow_fraction) {
    text = trim(text);
    if (text.empty()) throw UnitError("empty value");
    if (text.front() == '-') throw UnitError(fmt::format("'{}' is negative", text));
    std::size_t end = 0;
    bool seen_dot = false;
    while (end < text.size()) {
        const char c = text[end];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            ++end;
        } else if (c == '.' && allow_fraction && !seen_dot) {
            seen_dot = true;
            ++end;
        } else {
            break;
        }
    }
    if (end == 0 || text.substr(0, end) == ".")
        throw UnitError(fmt::format("'{}' does not start with a number", text));
    const std::string_view unit = trim(text.substr(end));
    return {text.substr(0, end), unit, lower(unit)};
}

}  // namespace

std::uint64_t parse_size(std::string_view text) {
    const auto [number, unit_as_written, unit] = split(text, false);
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range)
        throw UnitError(fmt::format("'{}' is too large", text));
    if (ec != std::errc() || ptr != number.data() + number.size())
        throw UnitError(fmt::format("'{}' is not a size", text));

    unsigned shift = 0;
    if (unit.empty() || unit == "b") {
        shift = 0;
    } else if (unit == "k" || unit == "kib") {
        shift = 10;
    } else if (unit == "m" || unit == "mib") {
        shift = 20;
    } else if (unit == "g" || unit == "gib") {
        shift = 30;
    } else if (unit == "kb" || unit == "mb" || unit == "gb") {
        throw UnitError(fmt::format("'{}' is ambiguous (1000 or 1024?): write {}k or {}KiB", text,
                                    number, number));
    } else {
        throw UnitError(fmt::format("'{}' has an unknown unit '{}' (use k, m, g or KiB, MiB, GiB)",
                                    text, unit_as_written));
    }
    if (shift > 0 && value > (UINT64_MAX >> shift))
        throw UnitError(fmt::format("'{}' is too large", text));
    return value << shift;
}

std::chrono::nanoseconds parse_duration(std::string_view text) {
    const auto [number, unit_as_written, unit] = split(text, true);
    double value = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if ((ec != std::errc() && ec != std::errc::result_out_of_range) ||
        ptr != number.data() + number.size())
        throw UnitError(fmt::format("'{}' is not a duration", text));
    if (ec == std::errc::result_out_of_range) {
        // Beyond what a double holds, one way or the other (from_chars then leaves value
        // alone): a whole part above zero means far longer than the limit below, none means
        // far shorter than a nanosecond.
        const std::string_view whole = number.substr(0, number.find('.'));
        if (whole.find_first_not_of('0') != std::string_view::npos)
            throw UnitError(fmt::format("'{}' is too long (at most a week)", text));
        value = 0;
    }

    double ns_per_unit = 0;
    if (unit == "ns") {
        ns_per_unit = 1;
    } else if (unit == "us") {
        ns_per_unit = 1e3;
    } else if (unit == "ms") {
        ns_per_unit = 1e6;
    } else if (unit.empty() || unit == "s") {
        ns_per_unit = 1e9;
    } else if (unit == "min" || unit == "m") {
        ns_per_unit = 60e9;
    } else if (unit == "h") {
        ns_per_unit = 3600e9;
    } else {
        throw UnitError(fmt::format("'{}' has an unknown unit '{}' (use ns, us, ms, s, min, h)",
                                    text, unit_as_written));
    }
    const double ns = value * ns_per_unit;
    // A week is far beyond any probe phase; above it the value is a typo, and above ~292 years
    // it would not fit in 64-bit nanoseconds.
    if (!std::isfinite(ns) || ns > 7 * 24 * 3600e9)
        throw UnitError(fmt::format("'{}' is too long (at most a week)", text));
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::string format_size(std::uint64_t bytes) {
    constexpr std::array<const char*, 4> units = {"B", "KiB", "MiB", "GiB"};
    std::size_t i = 0;
    // In integers: a double has 53 bits, and above 2^53 every value it holds is a multiple of
    // 1024, which would print sizes that are not exact as if they were.
    std::uint64_t value = bytes;
    while (i + 1 < units.size() && value >= 1024 && value % 1024 == 0) {
        value /= 1024;
        ++i;
    }
    if (i == 0 && bytes >= 1024) return format_kib(static_cast<double>(bytes) / 1024);
    return fmt::format("{} {}", value, units[i]);
}

std::string format_kib(double kib) {
    if (std::abs(kib) >= 10 * 1024) return fmt::format("{:.1f} MiB", kib / 1024);
    return fmt::format("{:.1f} KiB", kib);
}

std::string format_duration(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    if (s >= 1) return fmt::format("{:.2f} s", s);
    if (s >= 1e-3) return fmt::format("{:.1f} ms", s * 1e3);
    return fmt::format("{:.0f} us", s * 1e6);
}

}  // namespace tp
