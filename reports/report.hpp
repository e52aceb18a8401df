// The report document: the claims table first, then the machine, the figures, the tables
// behind them, and exactly what ran, for how long.
#pragma once

#include <string>
#include <vector>

#include "claims.hpp"
#include "document.hpp"
#include "figures.hpp"
#include "results.hpp"

namespace tp::report {

struct DrawnFigure {
    Figure figure;
    std::string svg;
};

struct Versions {
    std::string gnuplot;
    std::string compiler;
};

Document build_report(const Results& results, const std::vector<Claim>& claims,
                      const std::vector<DrawnFigure>& figures, const Versions& versions);

}  // namespace tp::report
