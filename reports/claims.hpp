// The article's claims that a measurement can answer, each judged by code from the result
// files: what the article says, what was measured here, the rule that turns one into a
// verdict, and the verdict. A reader can check every verdict against its rule and figure.
#pragma once

#include <string>
#include <vector>

#include "results.hpp"

namespace tp::report {

enum class Verdict { holds, differs, does_not_apply };
const char* verdict_name(Verdict v);

struct Claim {
    std::string article;   // what the article says
    std::string measured;  // the figure measured here, in words
    std::string rule;      // when the verdict is "holds"
    Verdict verdict = Verdict::does_not_apply;
    std::vector<std::string> sources;  // result files the figure comes from
};

// Throws ResultsError naming the file and key when a result it needs is missing.
std::vector<Claim> evaluate_claims(const Results& results);

}  // namespace tp::report
