// The article's claims that a measurement can answer, each judged by code from the result
// files: what the article says, what was measured here, the rule that turns one into a
// verdict, and the verdict. A reader can check every verdict against its rule and figure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "results.hpp"
#include "spread.hpp"

namespace tp::report {

// A figure a claim is judged on, with its unit ("x", "%", "KiB", "requests/s").
struct ClaimFigure {
    std::string name;
    Spread spread;
    std::string unit;
};

struct Claim {
    std::string article;   // what the article says
    std::string measured;  // the figure measured here, in words
    std::string rule;      // when the verdict is "holds"
    Verdict verdict = Verdict::does_not_apply;
    std::vector<std::string> sources;   // result files the figure comes from
    std::string id{};                   // stable across runs: "gil-doubles-latency"
    std::optional<double> threshold{};  // the rule's, where it has one number
    std::vector<ClaimFigure> figures{};
    // The most work other than the probes' while any of its experiments ran, in cores; a
    // figure measured beside more than half a core of it is flagged.
    std::optional<double> busiest_other_cores{};
    bool measured_while_busy() const { return busiest_other_cores && *busiest_other_cores > 0.5; }
};

// Throws ResultsError naming the file and key when a result it needs is missing.
std::vector<Claim> evaluate_claims(const Results& results);

// One GIL under perf1 and perf2, medians and ranges over the repetitions: the emulation
// ("gil") against CPython ("python-threads"), to say how faithful the emulation is.
struct GilFigures {
    double perf1_n = 0, perf2_n = 0;
    Spread perf1_ratio;  // the faster of 2 clients' median latency over 1 client's
    std::optional<Spread> perf2_drop_percent;  // none where fib(N) never overlapped the run
    std::optional<Spread> perf2_rate_during;   // tiny requests/s while fib(N) ran
};
// nullopt where this run did not measure `model` (CPython without python3).
std::optional<GilFigures> gil_figures(const Results& results, const std::string& model);

}  // namespace tp::report
