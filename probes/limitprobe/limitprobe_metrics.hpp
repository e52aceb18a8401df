// limitprobe --forecast's figures as Prometheus metrics (--openmetrics), for node_exporter's
// textfile collector: the forecast for the process it was asked about, at every stack size.
#pragma once

#include <string>

#include "limitprobe.hpp"

namespace tp {

std::string to_openmetrics(const LimitProbeResult& r);

}  // namespace tp
