// scripts/bench's outcome: every ratio with its goal, the raw medians and repetitions behind
// it, the machine and its load, as a table for a person and as JSON for the report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "forecast_bench.hpp"
#include "inspect_bench.hpp"
#include "machine_load.hpp"
#include "rate_bench.hpp"
#include "scale_bench.hpp"
#include "spawn_bench.hpp"
#include "stats.hpp"

namespace tp::bench {

struct BenchResult {
    MachineContext context;
    std::string load_at_start;  // /proc/loadavg's three averages
    std::string load_at_end;
    MachineLoad cpu;  // cores busy on average over the run, the bench's and everyone else's
    bool quick = false;
    unsigned repetitions = 0;
    double elapsed_s = 0;
    std::optional<SpawnResult> spawn;
    std::optional<RateResult> rate;
    std::optional<ScaleResult> scale;
    std::optional<ForecastResult> forecast;
    std::optional<InspectResult> inspect;
};

// The goals of issue 7, with the figures this run measured; only those it measured.
std::vector<Goal> goals(const BenchResult& r);

nlohmann::json to_json(const BenchResult& r);
std::string to_table(const BenchResult& r);

}  // namespace tp::bench
