// The one median and the one percentile every figure made of repeated readings goes through:
// a phase's samples (probes/measure/summary), a stack's frame sizes (stackprobe), request
// latencies (latency_stats) and the bench's repetitions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace tp {

// The middle value of `values`, whatever their order; for an even count, the mean of the two
// middle values (std::midpoint: for an integer type that mean is rounded down). Throws
// std::invalid_argument for an empty list: a figure with no reading is a bug, not a zero.
template <typename T>
T median(std::vector<T> values) {
    if (values.empty()) throw std::invalid_argument("median of no values");
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    if (values.size() % 2 == 1) return *middle;
    // nth_element leaves every smaller value before `middle`: the lower middle is their largest.
    return std::midpoint(*std::max_element(values.begin(), middle), *middle);
}

// The nearest-rank percentile: the smallest value with at least `p` percent of `values` at or
// below it (p = 0 gives the smallest, p = 100 the largest). Always one of the values, so the
// 50th percentile of an even count is the lower middle value, not the median. Throws
// std::invalid_argument for an empty list.
template <typename T>
T percentile(std::vector<T> values, double p) {
    if (values.empty()) throw std::invalid_argument("percentile of no values");
    const auto rank = static_cast<std::size_t>(
        std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size())));
    const auto at = values.begin() + static_cast<std::ptrdiff_t>(
                                         std::clamp<std::size_t>(rank, 1, values.size()) - 1);
    std::nth_element(values.begin(), at, values.end());
    return *at;
}

}  // namespace tp
