// stackprobe's results as a human table and as JSON (context, config, results, main_thread,
// paging).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "stackprobe.hpp"

namespace tp {

nlohmann::json to_json(const StackProbeResult& r);
std::string to_table(const StackProbeResult& r);

}  // namespace tp
