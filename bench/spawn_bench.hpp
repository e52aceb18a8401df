// Spawn: threadprobe's ramp (N connection threads, each connecting and asking once) against
// bare_spawn doing the same work with nothing around it, both against a fresh bare_listener (see
// there: the server must not be what is measured); and what threadprobe's sampling thread cost
// meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "environment.hpp"
#include "stats.hpp"

namespace tp::bench {

struct SpawnConfig {
    std::uint64_t threads = 10000;
    std::uint64_t stack = 64 * 1024;
    unsigned repetitions = 5;
    // threadprobe's hold: long enough for a dozen samples with every thread up, which is what
    // the sampler's cost per sample is measured on.
    std::chrono::nanoseconds hold{std::chrono::seconds(2)};
    std::chrono::nanoseconds interval{std::chrono::milliseconds(100)};
};

struct SpawnResult {
    SpawnConfig config;
    Series bare_s;   // bare_spawn: first pthread_create to the last thread answered
    Series probe_s;  // threadprobe's spawn_s, the same span
    Series ratio;    // probe_s / bare_s, repetition by repetition
    // The sampling thread's CPU time per sample with every connection held, as a share of one
    // core at the configured interval; and over the sampler's whole life (ramp included).
    Series sampler_hold_percent;
    Series sampler_life_percent;
    Series sampler_us_per_sample;
    // Accept-queue overflows on the machine during the spawn runs: 0 means no connection of
    // theirs waited out a SYN retransmission (others' connections are counted too).
    std::optional<std::uint64_t> listen_overflows;
};

SpawnResult run_spawn_bench(const SpawnConfig& config, const Environment& env);

nlohmann::json to_json(const SpawnResult& r);

}  // namespace tp::bench
