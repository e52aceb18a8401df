#include "stats.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace tp::bench {

Series paired_ratios(const Series& subject, const Series& reference) {
    if (subject.values.size() != reference.values.size())
        throw std::invalid_argument(fmt::format("{} measurements paired with {}",
                                                subject.values.size(), reference.values.size()));
    Series ratios;
    for (std::size_t i = 0; i < subject.values.size(); ++i)
        if (reference.values[i] > 0) ratios.add(subject.values[i] / reference.values[i]);
    return ratios;
}

std::string Goal::text() const {
    return fmt::format("{} {}", direction == Direction::at_most ? "<=" : ">=", bound);
}

double round_to(double value, int decimals) {
    const double scale = std::pow(10.0, decimals);
    return std::round(value * scale) / scale;
}

nlohmann::json to_json(const Series& s, int decimals) {
    nlohmann::json values = nlohmann::json::array();
    for (const double v : s.values) values.push_back(round_to(v, decimals));
    return {{"median",
             s.empty() ? nlohmann::json(nullptr) : nlohmann::json(round_to(s.median(), decimals))},
            {"repetitions", values}};
}

nlohmann::json to_json(const Goal& g) {
    return {{"figure", g.figure},
            {"value", round_to(g.value, 4)},
            {"goal", g.text()},
            {"met", g.met()}};
}

}  // namespace tp::bench
