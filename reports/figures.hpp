// The report's figures as gnuplot scripts, with their data inline (datablocks), so each
// figure is one self-contained script that a reader can rerun and restyle.
#pragma once

#include <string>
#include <vector>

#include "results.hpp"

namespace tp::report {

struct Figure {
    std::string name;  // file stem: figures/NAME.svg
    std::string title;
    std::string caption;  // how to read it
    std::string script;   // gnuplot commands, without terminal or output
    int width = 800, height = 440;
};

// Throws ResultsError naming the file and key when a result it needs is missing.
std::vector<Figure> plan_figures(const Results& results);

}  // namespace tp::report
