#include "forecast_metrics.hpp"

#include <prometheus/gauge.h>

#include <algorithm>

namespace tp {
namespace {

constexpr double kKiB = 1024;

prometheus::Labels stack_label(const StackForecast& f) {
    return {{"stack_bytes", std::to_string(f.cost.stack_bytes)}};
}

prometheus::Labels limit_labels(const StackForecast& f, const LimitReading& limit) {
    auto labels = stack_label(f);
    labels["limit"] = limit.name;
    labels["enforced"] = limit.enforced ? "true" : "false";
    return labels;
}

}  // namespace

MetricsSubject MetricsSubject::host() {
    return {};
}

MetricsSubject MetricsSubject::process(pid_t pid, std::string name) {
    return {pid, std::move(name)};
}

prometheus::Labels MetricsSubject::labels(prometheus::Labels more) const {
    if (!pid) {
        more["scope"] = "host";
        return more;
    }
    more["scope"] = "process";
    more["pid"] = std::to_string(*pid);
    more["process"] = name;
    return more;
}

SubjectGauges::SubjectGauges(prometheus::Registry& registry, const MetricsSubject& subject,
                             const std::string& name, const std::string& help)
    : subject_(subject),
      family_(prometheus::BuildGauge().Name(name).Help(help).Register(registry)) {}

void SubjectGauges::set(double value, const prometheus::Labels& more) {
    family_.Add(subject_.labels(more)).Set(value);
}

void add_process_threads(prometheus::Registry& registry, const MetricsSubject& subject,
                         std::uint64_t threads) {
    SubjectGauges(registry, subject, "threadprobe_process_threads",
                  "Threads the process has (/proc/PID/status Threads).")
        .set(static_cast<double>(threads));
}

std::optional<double> headroom_ratio(const LimitReading& limit) {
    if (!limit.ceiling || !limit.current || *limit.ceiling <= limit.reserved) return std::nullopt;
    const double usable = static_cast<double>(*limit.ceiling - limit.reserved);
    const double free = usable - static_cast<double>(*limit.current);
    return std::clamp(free / usable, 0.0, 1.0);
}

void add_forecast_metrics(prometheus::Registry& registry, const MetricsSubject& subject,
                          const std::vector<StackForecast>& forecasts) {
    SubjectGauges most(registry, subject, "threadprobe_forecast_threads",
                       "The most threads the process would reach at this stack size: its "
                       "threads now plus the binding limit's headroom.");
    SubjectGauges headroom(registry, subject, "threadprobe_forecast_headroom_threads",
                           "Threads the process can still create at this stack size before "
                           "the binding limit.");
    SubjectGauges binding(registry, subject, "threadprobe_forecast_binding_limit_info",
                          "The limit that stops the process's threads first at this stack "
                          "size (1; 'none' where no enforced limit has a ceiling).");
    SubjectGauges limit_threads(registry, subject, "threadprobe_limit_headroom_threads",
                                "Threads the process can still create before this limit, at "
                                "the cost per thread measured for this stack size.");
    SubjectGauges limit_ratio(registry, subject, "threadprobe_limit_headroom_ratio",
                              "Share of this limit's ceiling still free (0 to 1), in the "
                              "limit's own unit.");
    SubjectGauges resident(registry, subject, "threadprobe_thread_cost_resident_bytes",
                           "Resident memory one more thread at this stack size was measured "
                           "to add.");
    SubjectGauges virtual_size(registry, subject, "threadprobe_thread_cost_virtual_bytes",
                               "Address space one more thread at this stack size was measured "
                               "to add.");
    SubjectGauges kernel_stack(registry, subject, "threadprobe_thread_cost_kernel_stack_bytes",
                               "Kernel stack one more thread was measured to add "
                               "(/proc/meminfo KernelStack).");
    for (const auto& f : forecasts) {
        const auto stack = stack_label(f);
        if (f.threads) {
            most.set(static_cast<double>(*f.threads), stack);
            headroom.set(static_cast<double>(*f.threads - f.current_threads), stack);
        }
        auto with_limit = stack;
        with_limit["limit"] = f.binding_limit;
        binding.set(1, with_limit);
        for (const auto& limit : f.limits) {
            const auto labels = limit_labels(f, limit);
            if (const auto h = limit.headroom_threads()) limit_threads.set(*h, labels);
            if (const auto r = headroom_ratio(limit)) limit_ratio.set(*r, labels);
        }
        if (f.cost.threads > 0) {
            resident.set(f.cost.rss_kib * kKiB, stack);
            virtual_size.set(f.cost.vsz_kib * kKiB, stack);
            kernel_stack.set(f.cost.kernel_stack_kib * kKiB, stack);
        }
    }
}

}  // namespace tp
