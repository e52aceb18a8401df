// threadprobe --pid's figures as Prometheus metrics (--openmetrics): the process's threads and
// memory, its stacks reserved and resident, its kernel stacks, the distribution of its threads'
// stack high-water marks as a histogram (a series per bucket, never per thread), and its
// forecast.
#pragma once

#include <string>

#include "live_process.hpp"

namespace tp {

// The Prometheus text exposition of `r` as it stands (a --watch sample, or the end).
std::string to_openmetrics(const LiveProcessResult& r);

}  // namespace tp
