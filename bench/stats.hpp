// The arithmetic every bench figure goes through: repeated measurements, their median, and
// ratios against a reference measured in the same repetition (so that a machine busier during
// one repetition than another moves both sides of its ratio, not one).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "statistics.hpp"

namespace tp::bench {

// One quantity measured once per repetition, in the order measured.
struct Series {
    std::vector<double> values;

    void add(double v) { values.push_back(v); }
    bool empty() const { return values.empty(); }
    // tp::median: the mean of the two middle ones for an even count; throws
    // std::invalid_argument for no measurement, which is a bug, not a zero.
    double median() const { return tp::median(values); }
};

// subject[i] / reference[i] for every repetition i; repetitions whose reference is not above
// zero are left out (it measured nothing to divide by). Throws std::invalid_argument if the two
// differ in length: pairing is the point.
Series paired_ratios(const Series& subject, const Series& reference);

// A goal a figure must meet: at most or at least `bound`.
struct Goal {
    std::string figure;  // "spawn_vs_bare"
    double value = 0;
    enum class Direction { at_most, at_least } direction = Direction::at_most;
    double bound = 0;

    bool met() const { return direction == Direction::at_most ? value <= bound : value >= bound; }
    // "<= 1.5", ">= 0.9"
    std::string text() const;
};

// {"median": m, "repetitions": [...]}, rounded to `decimals`.
nlohmann::json to_json(const Series& s, int decimals = 4);
nlohmann::json to_json(const Goal& g);
double round_to(double value, int decimals);

}  // namespace tp::bench
