// A process's thread forecast as Prometheus metrics: for each stack size, the headroom before
// every limit (in threads, and as a share of the limit's ceiling, which is what an alert wants),
// the binding limit, and what one thread was measured to cost. Every series says whose figures
// they are: scope="host" for a new process of the user on this host (limitprobe --forecast
// without --pid: no pid label, so a run every minute keeps the same series), scope="process"
// with the pid and name for a running one, so that files for several processes sit in one
// textfile directory without two series alike. None carries a thread's id, so 10,000 threads
// stay a few series.
#pragma once

#include <prometheus/registry.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forecast.hpp"

namespace tp {

// Whose figures they are: the labels on every series.
struct MetricsSubject {
    static MetricsSubject host();
    static MetricsSubject process(pid_t pid, std::string name);

    std::optional<pid_t> pid;  // none for the host
    std::string name;          // /proc/PID/comm
    prometheus::Labels labels(prometheus::Labels more = {}) const;
};

// A gauge family registered in `registry`, whose series are the subject's labels and more.
class SubjectGauges {
  public:
    SubjectGauges(prometheus::Registry& registry, const MetricsSubject& subject,
                  const std::string& name, const std::string& help);
    void set(double value, const prometheus::Labels& more = {});

  private:
    const MetricsSubject& subject_;
    prometheus::Family<prometheus::Gauge>& family_;
};

// threadprobe_process_threads: the threads the process has now.
void add_process_threads(prometheus::Registry& registry, const MetricsSubject& subject,
                         std::uint64_t threads);

// The forecast's families, a series per stack size (and per limit).
void add_forecast_metrics(prometheus::Registry& registry, const MetricsSubject& subject,
                          const std::vector<StackForecast>& forecasts);

// The share of a limit's ceiling still free, 0 to 1, in the limit's own unit (what its
// headroom in threads leaves out: the others that share it); nullopt without a ceiling.
std::optional<double> headroom_ratio(const LimitReading& limit);

}  // namespace tp
