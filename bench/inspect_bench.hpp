// Inspect: threadprobe --pid on the threads-model fibserver holding 10,000 connections (10,001
// threads) against pmap -X on the same process, back to back; and what threadprobe --pid
// --watch costs in CPU at 1 s intervals.
#pragma once

#include <cstdint>
#include <optional>

#include "environment.hpp"
#include "stats.hpp"

namespace tp::bench {

struct InspectConfig {
    std::uint64_t connections = 10000;
    std::uint64_t stack = 64 * 1024;
    unsigned repetitions = 3;
    std::chrono::seconds watch{10};
};

struct InspectResult {
    InspectConfig config;
    std::uint64_t threads = 0;  // the server's, while held
    Series probe_s;             // threadprobe --pid, start to exit
    Series pmap_s;              // pmap -X, start to exit
    Series ratio;               // probe_s / pmap_s
    // threadprobe --pid --watch: the CPU seconds the watch's samples cost (the whole run's
    // less a single inspection's, which every run pays once) over the watch's seconds, as a
    // share of one core: what watching costs from the second sample on.
    std::optional<double> watch_cpu_percent;
    Series single_cpu_s;     // CPU of one threadprobe --pid, start to exit
    double watch_cpu_s = 0;  // CPU of the whole --watch run
    bool pmap_found = true;
};

InspectResult run_inspect_bench(const InspectConfig& config, const Environment& env);

nlohmann::json to_json(const InspectResult& r);

}  // namespace tp::bench
