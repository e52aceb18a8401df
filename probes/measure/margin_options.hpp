// The options limitprobe and threadprobe share for the room a search leaves the machine:
// --keep-free and --to-the-limit (see forecast.hpp's SafetyMargin).
#pragma once

#include <string>

#include "cli.hpp"
#include "forecast.hpp"
#include "procfs.hpp"

namespace tp {

struct MarginOptions {
    KeepFree keep_free;
    bool to_the_limit = false;
};

// "5%,1000" (the larger of both), "10%" or "2000": a share of the ceiling, tasks, or both.
void validate(boost::any& out, const std::vector<std::string>& values, KeepFree*, int);

void add_margin_options(po::options_description& options, MarginOptions& o);

// The margin a search keeps on this machine, or none with --to-the-limit; `program` prints
// the warning line --to-the-limit asks for.
SafetyMargin margin_for(const MarginOptions& o, const ProcFs& fs, const std::string& program);

}  // namespace tp
