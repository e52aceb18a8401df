// Request rate: rateprobe's tiny requests per second against fibserver's threads, epoll and
// prefork models, each divided by a bare blocking loopback ping-pong (1 byte out, 2 back)
// measured in the same repetition; the order of the four rotates from one repetition to the
// next.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "environment.hpp"
#include "stats.hpp"

namespace tp::bench {

struct RateConfig {
    std::vector<std::string> models = {"threads", "epoll", "prefork"};
    std::chrono::nanoseconds duration{std::chrono::seconds(2)};
    unsigned repetitions = 5;
};

struct RateResult {
    RateConfig config;
    Series pingpong_rps;
    std::map<std::string, Series> model_rps;    // rateprobe's baseline_rps
    std::map<std::string, Series> model_ratio;  // model_rps / pingpong_rps, per repetition
};

RateResult run_rate_bench(const RateConfig& config, const Environment& env);

nlohmann::json to_json(const RateResult& r);

}  // namespace tp::bench
