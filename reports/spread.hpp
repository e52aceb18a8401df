// A figure measured several times: its median and its range over the repetitions, and the
// verdict a rule gives on the range, not on one point. A range that straddles the rule's
// threshold is inconclusive, never a coin flip.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tp::report {

struct Spread {
    double median = 0, min = 0, max = 0;
    std::size_t repetitions = 0;
};
// Throws std::invalid_argument for no values.
Spread spread_of(const std::vector<double>& values);
// "x1.95 (x1.80-x2.10, 5 runs)", "x1.95" for one; `format` formats one value.
std::string describe(const Spread& s, const std::string& format);

enum class Verdict { holds, differs, inconclusive, does_not_apply };
const char* verdict_name(Verdict v);

// Which side of the threshold the claim holds on.
enum class Holds { at_least, above, at_most, below };
// Holds where the whole range is on the holding side, differs where the whole range is on the
// other, inconclusive where it straddles.
Verdict judge(const Spread& s, Holds side, double threshold);

}  // namespace tp::report
