// The `context` block every results file starts with (google/benchmark style): what ran,
// when, on which machine and under which limits, so a figure can be read without guessing.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>

#include "limits.hpp"
#include "procfs.hpp"
#include "topology.hpp"

namespace tp {

struct MachineContext {
    std::string time_utc;  // ISO 8601
    std::string host;
    std::string kernel;  // uname release and version
    std::string glibc;
    long page_size = 0;
    Topology topology;
    std::vector<LimitReading> limits;  // read for this process at start
};

MachineContext read_machine_context(const ProcFs& fs, pid_t pid, const ThreadCost& cost);

nlohmann::json to_json(const Topology& t);  // summary() is written too, for a reader's header
void from_json(const nlohmann::json& j, CacheLevel& c);
void from_json(const nlohmann::json& j, Topology& t);
nlohmann::json to_json(const MachineContext& c);
void from_json(const nlohmann::json& j, MachineContext& c);

}  // namespace tp
