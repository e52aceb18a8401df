#include "limitprobe_metrics.hpp"

#include <prometheus/registry.h>

#include "forecast_metrics.hpp"
#include "metrics_file.hpp"

namespace tp {

std::string to_openmetrics(const LimitProbeResult& r) {
    prometheus::Registry registry;
    const MetricsSubject subject = r.config.pid
                                       ? MetricsSubject::process(r.forecast_pid, r.forecast_process)
                                       : MetricsSubject::host();
    if (!r.forecast.empty())
        add_process_threads(registry, subject, r.forecast.front().current_threads);
    add_forecast_metrics(registry, subject, r.forecast);
    return exposition(registry);
}

}  // namespace tp
