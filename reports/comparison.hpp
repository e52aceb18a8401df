// Several machines in one report: each a results folder from scripts/reproduce (this machine,
// a laptop, a VM, a container, another kernel), judged by the same claims and read by the
// same readers as a single machine's report, and set side by side, a column per machine:
// their context (kernel, glibc, topology, the limits and cgroups a thread meets), the claims'
// verdicts, what a thread and a connection cost, where threads stop and the forecast.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "claims.hpp"
#include "document.hpp"
#include "report.hpp"
#include "results.hpp"

namespace tp::report {

struct MachineRun {
    std::string label;  // the column's name: its host, with the time where two share one
    Results results;
    std::vector<Claim> claims;
};

// Loads and judges each folder, in order, and names the columns: `labels` where given (one
// per folder), else each run's host, with its time where two share a host. Throws
// ResultsError, one line naming the folders, for two folders from the same machine and time
// (the same run twice), and whatever Results::load and the claims throw for a folder they
// cannot read.
std::vector<MachineRun> load_machines(const std::vector<std::string>& folders,
                                      const std::vector<std::string>& labels = {});

Document build_comparison(const std::vector<MachineRun>& machines, const RunInfo& info);

// report.json of a comparison: "machines" (each with its label, its folder and the single
// machine's report_data), and "claims" (id, statement, and each machine's verdict by label).
nlohmann::json comparison_data(const std::vector<MachineRun>& machines, const RunInfo& info);

}  // namespace tp::report
