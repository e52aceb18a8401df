// Drawing with gnuplot: a script in, SVG text out. gnuplot runs as a child process with the
// script in a temporary file; its first error line is the error message here.
#pragma once

#include <stdexcept>
#include <string>

namespace tp::report {

class GnuplotError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The gnuplot version line ("gnuplot 5.4 patchlevel 4"); throws GnuplotError when gnuplot
// cannot be run.
std::string gnuplot_version();

// Runs `script` (which must not set a terminal or output) and returns the SVG it draws, of
// `width` x `height` pixels.
std::string render_svg(const std::string& script, int width, int height);

// Makes the ids of one SVG unique within a page that holds several: gnuplot names its
// definitions the same in every plot.
std::string prefix_svg_ids(const std::string& svg, const std::string& prefix);

}  // namespace tp::report
