// Forecast: limitprobe --forecast for three stack sizes against the search it replaces on a
// production host (limitprobe at 16k stacks, to the safety margin), both timed whole, back to
// back; and how close the search brought the machine's task count to pid_max meanwhile.
#pragma once

#include <cstdint>
#include <optional>

#include "environment.hpp"
#include "stats.hpp"

namespace tp::bench {

struct ForecastConfig {
    unsigned repetitions = 3;
};

struct ForecastResult {
    ForecastConfig config;
    Series forecast_s;  // limitprobe --forecast --stack 16k,64k,default, start to exit
    Series search_s;    // limitprobe --stack 16k, start to exit
    Series ratio;       // forecast_s / search_s, repetition by repetition
    // The fewest free tasks under pid_max and threads-max the machine had while a search ran
    // (sampled every millisecond); the safety margin's goal is never under 1000.
    std::optional<std::uint64_t> least_tasks_free;
};

ForecastResult run_forecast_bench(const ForecastConfig& config, const Environment& env);

nlohmann::json to_json(const ForecastResult& r);

}  // namespace tp::bench
