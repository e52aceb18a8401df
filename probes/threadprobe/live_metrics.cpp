#include "live_metrics.hpp"

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "forecast_metrics.hpp"
#include "metrics_file.hpp"

namespace tp {
namespace {

constexpr double kKiB = 1024;

// Powers of two from two pages to the default 8 MiB stack: where the thread stacks people
// choose fall, so that a bucket's edge is a stack size one could set.
prometheus::Histogram::BucketBoundaries high_water_buckets() {
    prometheus::Histogram::BucketBoundaries b;
    for (double bytes = 8 * kKiB; bytes <= 8 * kKiB * kKiB; bytes *= 2) b.push_back(bytes);
    return b;
}

void add_memory(prometheus::Registry& registry, const MetricsSubject& subject,
                const LiveProcessResult& r) {
    const auto bytes = [](std::uint64_t kib) { return static_cast<double>(kib) * kKiB; };
    SubjectGauges(registry, subject, "threadprobe_process_virtual_bytes",
                  "The process's address space (VmSize).")
        .set(bytes(r.memory.vsz_kib));
    SubjectGauges(registry, subject, "threadprobe_process_resident_bytes",
                  "The process's resident memory (VmRSS).")
        .set(bytes(r.memory.rss_kib));
    SubjectGauges(registry, subject, "threadprobe_process_resident_anonymous_bytes",
                  "The process's anonymous resident memory (RssAnon).")
        .set(bytes(r.memory.rss_anon_kib));
    SubjectGauges(registry, subject, "threadprobe_process_page_table_bytes",
                  "The process's page tables (VmPTE).")
        .set(bytes(r.memory.pte_kib));
    SubjectGauges(registry, subject, "threadprobe_process_stack_reserved_bytes",
                  "Address space reserved for the stacks of all the process's threads.")
        .set(bytes(r.stacks_reserved_kib));
    SubjectGauges(registry, subject, "threadprobe_process_stack_resident_bytes",
                  "Resident memory in the stacks of all the process's threads.")
        .set(bytes(r.stacks_resident_kib));
    SubjectGauges(registry, subject, "threadprobe_process_kernel_stack_bytes",
                  "Kernel stacks of the process's threads, at the kernel stack per thread "
                  "measured on this machine.")
        .set(bytes(r.kernel_stacks_kib));
}

void add_high_water(prometheus::Registry& registry, const MetricsSubject& subject,
                    const LiveProcessResult& r) {
    auto& family = prometheus::BuildHistogram()
                       .Name("threadprobe_thread_stack_high_water_bytes")
                       .Help(
                           "The deepest stack use seen in each of the process's threads "
                           "(the main thread aside), page granular.")
                       .Register(registry);
    auto& histogram = family.Add(subject.labels(), high_water_buckets());
    for (const auto& t : r.stacks.threads)
        if (!t.main && t.located()) histogram.Observe(static_cast<double>(t.high_water_kib) * kKiB);
    if (r.high_water)
        SubjectGauges(registry, subject, "threadprobe_process_stack_suggested_bytes",
                      "A stack size that holds the deepest use seen with half again to spare.")
            .set(static_cast<double>(r.high_water->suggested_stack_kib) * kKiB);
}

}  // namespace

std::string to_openmetrics(const LiveProcessResult& r) {
    prometheus::Registry registry;
    const MetricsSubject subject = MetricsSubject::process(r.stacks.pid, r.stacks.name);
    add_process_threads(registry, subject, r.memory.threads);
    add_memory(registry, subject, r);
    add_high_water(registry, subject, r);
    add_forecast_metrics(registry, subject, {r.forecast});
    return exposition(registry);
}

}  // namespace tp
