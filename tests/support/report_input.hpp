// A probe's fresh results as the report reads them: through tp_report's own readers, so a test
// checks the keys the report needs with the types it expects, not merely that some keys exist.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "results.hpp"

namespace tp::test {

// A results folder holding just `results`, named `name` as scripts/reproduce names it
// ("threadprobe-64k-1000", "latency-gil-2", "rate-pool", "stackprobe").
tp::report::Results report_input(const std::string& name, const nlohmann::json& results);

// What the report's header, machine table and claims read from a probe's context: version,
// time, host, kernel, glibc, page size, topology, and every limit's row; each of the type the
// report expects and in the range the machine allows.
void check_context_as_the_report_reads_it(const tp::report::Results& results,
                                          const std::string& name);

}  // namespace tp::test
