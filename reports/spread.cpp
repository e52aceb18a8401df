#include "spread.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "statistics.hpp"

namespace tp::report {

Spread spread_of(const std::vector<double>& values) {
    if (values.empty()) throw std::invalid_argument("a spread of no values");
    return {median(values), *std::min_element(values.begin(), values.end()),
            *std::max_element(values.begin(), values.end()), values.size()};
}

std::string describe(const Spread& s, const std::string& format) {
    const auto one = [&](double v) { return fmt::format(fmt::runtime(format), v); };
    if (s.repetitions <= 1) return one(s.median);
    return fmt::format("{} ({} to {}, {} runs)", one(s.median), one(s.min), one(s.max),
                       s.repetitions);
}

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::holds:
            return "holds";
        case Verdict::differs:
            return "differs";
        case Verdict::inconclusive:
            return "inconclusive";
        case Verdict::does_not_apply:
            return "does not apply";
    }
    return "?";
}

Verdict judge(const Spread& s, Holds side, double threshold) {
    const auto holding = [&](double v) {
        switch (side) {
            case Holds::at_least:
                return v >= threshold;
            case Holds::above:
                return v > threshold;
            case Holds::at_most:
                return v <= threshold;
            case Holds::below:
                return v < threshold;
        }
        return false;
    };
    const bool low = holding(s.min), high = holding(s.max);
    if (low && high) return Verdict::holds;
    if (!low && !high) return Verdict::differs;
    return Verdict::inconclusive;
}

}  // namespace tp::report
