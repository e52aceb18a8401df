// The report document: the claims table first, then the machine, the figures, the tables
// behind them, and exactly what ran, for how long.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claims.hpp"
#include "document.hpp"
#include "figures.hpp"
#include "probe_results.hpp"
#include "results.hpp"

namespace tp::report {

struct DrawnFigure {
    Figure figure;
    std::string svg;
};

// What the result files cannot say about themselves.
struct RunInfo {
    std::string invocation;  // the command that ran the experiments
    std::string gnuplot;     // gnuplot's version line
    std::string compiler;    // what built the programs
};

// The result file whose context describes the machine: every probe writes the same one.
std::string context_file(const Results& results);
// The work other than the probes' while experiment `name` ran, in cores (the probes record it
// from /proc/stat against their own CPU time); nothing for results from before they did.
std::optional<double> other_work(const Results& results, const std::string& name);
// The share of full speed the slowest PU experiment `name` computed on had around it (its
// speed checks against `host`'s fastest); nothing for a run without checks.
std::optional<double> host_speed_share(const Results& results, const HostSpeed& host,
                                       const std::string& name);
// The experiments' run time, added up.
double total_seconds(const Results& results);
// Throws ResultsError naming the folder when its results come from a threadprobe release
// (major.minor) other than this tpreport's: their keys may differ.
void check_version(const Results& results);

Document build_report(const Results& results, const std::vector<Claim>& claims,
                      const std::vector<DrawnFigure>& figures, const RunInfo& info);

// report.json, from the same claims the document renders: "machine", "runs" (what ran, how
// long, how busy the machine was) and "claims" (id, statement, measured, verdict, rule,
// threshold, figures with their median, range, unit and repetitions).
nlohmann::json report_data(const Results& results, const std::vector<Claim>& claims,
                           const RunInfo& info);

}  // namespace tp::report
