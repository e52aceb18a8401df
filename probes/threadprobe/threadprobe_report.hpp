// threadprobe's results in three forms: the human table for stdout, JSON (context, config,
// samples, summary: the keys scripts and the report rely on) and CSV (one row per sample).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "threadprobe.hpp"

namespace tp {

// Written inside summary.failure: its diagnosis's keys beside side, operation, at_thread, error.
nlohmann::json to_json(const Failure& f);
void from_json(const nlohmann::json& j, Failure& f);

nlohmann::json to_json(const ThreadProbeResult& r);
std::string to_csv(const ThreadProbeResult& r);
std::string to_table(const ThreadProbeResult& r);

}  // namespace tp
