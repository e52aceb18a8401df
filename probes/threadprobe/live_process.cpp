#include "live_process.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "json_fields.hpp"
#include "statistics.hpp"
#include "stop_signal.hpp"
#include "units.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The kernel-stack figure comes from this many threads made here, not from a typed-in
// THREAD_SIZE: KernelStack in /proc/meminfo per thread added.
constexpr std::uint64_t kCostSample = 64;
constexpr std::uint64_t kSuggestionStepKib = 16;

// Each thread's high-water mark is the deepest seen in any inspection so far: a stack page
// that was resident once may be swapped out or madvised away later, but the depth happened.
void keep_deepest(StackInspection& now, std::map<pid_t, std::uint64_t>& deepest) {
    for (auto& t : now.threads) {
        auto& d = deepest[t.tid];
        d = std::max(d, t.high_water_kib);
        t.high_water_kib = d;
    }
}

LiveSample sample_of(const StackInspection& s, const std::optional<ProcessMemory>& m, double t_s) {
    LiveSample out;
    out.t_s = t_s;
    out.threads = s.threads.size();
    for (const auto& t : s.threads) {
        out.stacks_reserved_kib += t.reserved_kib;
        out.stacks_resident_kib += t.resident_kib;
        out.max_high_water_kib = std::max(out.max_high_water_kib, t.high_water_kib);
    }
    if (m) out.rss_kib = m->rss_kib;
    return out;
}

// The process-wide figures, from the last inspection and the memory read beside it (the last
// one read is kept where the process could not be read again).
void account(LiveProcessResult& r, const std::optional<ProcessMemory>& memory) {
    if (memory) r.memory = *memory;
    r.stacks_reserved_kib = 0;
    r.stacks_resident_kib = 0;
    for (const auto& t : r.stacks.threads) {
        r.stacks_reserved_kib += t.reserved_kib;
        r.stacks_resident_kib += t.resident_kib;
    }
    r.kernel_stacks_kib = static_cast<std::uint64_t>(
        std::llround(r.kernel_stack_kib_per_thread * static_cast<double>(r.memory.threads)));
    r.other_resident_kib =
        r.memory.rss_kib > r.stacks_resident_kib ? r.memory.rss_kib - r.stacks_resident_kib : 0;
    r.high_water = summarize_high_water(r.stacks.threads);
}

json to_json(const LiveSample& s) {
    return {{"t_s", rounded(s.t_s, 1000)},
            {"threads", s.threads},
            {"stacks_reserved_kib", s.stacks_reserved_kib},
            {"stacks_resident_kib", s.stacks_resident_kib},
            {"max_high_water_kib", s.max_high_water_kib},
            {"rss_kib", s.rss_kib}};
}

}  // namespace

std::optional<HighWaterSummary> summarize_high_water(const std::vector<ThreadStack>& threads) {
    std::vector<std::uint64_t> marks, reserved;
    for (const auto& t : threads)
        if (!t.main && t.located()) {
            marks.push_back(t.high_water_kib);
            reserved.push_back(t.reserved_kib);
        }
    if (marks.empty()) return std::nullopt;
    HighWaterSummary h;
    h.threads = marks.size();
    h.min_kib = *std::min_element(marks.begin(), marks.end());
    h.max_kib = *std::max_element(marks.begin(), marks.end());
    h.p50_kib = percentile(marks, 50);
    h.p90_kib = percentile(marks, 90);
    h.reserved_p50_kib = percentile(reserved, 50);
    for (const auto& t : threads)
        if (!t.main && t.located() && t.high_water_kib == h.max_kib &&
            std::find(h.names_at_max.begin(), h.names_at_max.end(), t.name) == h.names_at_max.end())
            h.names_at_max.push_back(t.name);
    const auto wanted = static_cast<std::uint64_t>(std::ceil(static_cast<double>(h.max_kib) * 1.5));
    h.suggested_stack_kib =
        std::max(kSuggestionStepKib,
                 (wanted + kSuggestionStepKib - 1) / kSuggestionStepKib * kSuggestionStepKib);
    return h;
}

int LiveProcessResult::exit_code() const {
    if (interrupted) return 130;
    return stacks.incomplete ? 1 : 0;
}

LiveProcessResult inspect_live_process(const LiveProcessConfig& config, StopSignal& stop,
                                       const ProgressFn& progress, const LiveSampleFn& on_sample) {
    const ProcFs fs;
    LiveProcessResult r;
    r.config = config;
    // First, so that a process that cannot be inspected is said so before anything is made.
    StackInspection first = inspect_thread_stacks(fs, config.pid);
    const auto started = Clock::now();
    std::map<pid_t, std::uint64_t> deepest;
    keep_deepest(first, deepest);
    std::optional<ProcessMemory> memory = fs.process(config.pid);
    r.samples.push_back(sample_of(first, memory, 0));
    r.stacks = std::move(first);

    // The forecast at the stack size its threads use (the main thread's aside).
    std::optional<std::uint64_t> stack;
    if (const auto h = summarize_high_water(r.stacks.threads)) stack = h->reserved_p50_kib * 1024;
    progress(fmt::format("pid {}: forecast from a sample of {} threads", config.pid, kCostSample));
    ForecastRequest request;
    request.stack = stack;
    request.sample_threads = kCostSample;
    r.forecast = forecast_process(fs, config.pid, request);
    r.kernel_stack_kib_per_thread = r.forecast.cost.kernel_stack_kib;
    r.context = read_machine_context(fs, config.pid,
                                     ThreadCost::for_stack(r.forecast.cost.stack_bytes, false));
    if (on_sample) {
        account(r, memory);
        on_sample(r);
    }

    if (config.watch) {
        const auto end = started + *config.watch;
        while (Clock::now() < end && !r.stacks.incomplete) {
            if ((r.interrupted = stop.wait_for(
                     std::min<std::chrono::nanoseconds>(config.interval, end - Clock::now()))))
                break;
            StackInspection now;
            try {
                now = inspect_thread_stacks(fs, config.pid, &r.stacks);
            } catch (const InspectError& e) {
                // Gone mid-watch: what was read before is kept.
                r.stacks.incomplete = true;
                r.stacks.incomplete_why = e.what();
                break;
            }
            keep_deepest(now, deepest);
            const double t = std::chrono::duration<double>(Clock::now() - started).count();
            memory = fs.process(config.pid);
            r.samples.push_back(sample_of(now, memory, t));
            progress(fmt::format("watch: {:.0f}s, {} threads", t, now.threads.size()));
            r.stacks = std::move(now);
            if (on_sample) {
                account(r, memory);
                on_sample(r);
            }
        }
    }
    memory = fs.process(config.pid);
    if (!memory) {
        r.stacks.incomplete = true;
        if (r.stacks.incomplete_why.empty()) r.stacks.incomplete_why = "the process ended";
    }
    account(r, memory);
    return r;
}

json to_json(const LiveProcessResult& r) {
    json threads = json::array();
    for (const auto& t : r.stacks.threads) threads.push_back(to_json(t));
    json samples = json::array();
    for (const auto& s : r.samples) samples.push_back(to_json(s));
    json high_water = nullptr;
    if (r.high_water)
        high_water = {{"threads", r.high_water->threads},
                      {"min_kib", r.high_water->min_kib},
                      {"p50_kib", r.high_water->p50_kib},
                      {"p90_kib", r.high_water->p90_kib},
                      {"max_kib", r.high_water->max_kib},
                      {"names_at_max", r.high_water->names_at_max},
                      {"reserved_p50_kib", r.high_water->reserved_p50_kib},
                      {"suggested_stack_kib", r.high_water->suggested_stack_kib}};
    // The per-thread array is moved in afterwards: an initializer list would copy all 10,000.
    json out = {
        {"tool", "threadprobe"},
        {"version", THREADPROBE_VERSION},
        {"context", to_json(r.context)},
        {"config",
         {{"pid", r.config.pid},
          {"watch_s", r.config.watch ? json(std::chrono::duration<double>(*r.config.watch).count())
                                     : json(nullptr)},
          {"interval_s", std::chrono::duration<double>(r.config.interval).count()}}},
        {"process",
         {{"pid", r.stacks.pid},
          {"name", r.stacks.name},
          {"threads", r.memory.threads},
          {"vsz_kib", r.memory.vsz_kib},
          {"rss_kib", r.memory.rss_kib},
          {"rss_anon_kib", r.memory.rss_anon_kib},
          {"page_tables_kib", r.memory.pte_kib},
          {"stacks_reserved_kib", r.stacks_reserved_kib},
          {"stacks_resident_kib", r.stacks_resident_kib},
          {"kernel_stack_kib_per_thread", rounded(r.kernel_stack_kib_per_thread, 100)},
          {"kernel_stacks_kib", r.kernel_stacks_kib},
          {"other_resident_kib", r.other_resident_kib},
          {"threads_vanished", r.stacks.vanished},
          {"incomplete", r.stacks.incomplete},
          {"incomplete_why", r.stacks.incomplete_why}}},
        {"high_water", high_water},
        {"forecast", to_json(r.forecast)},
        {"interrupted", r.interrupted}};
    out["threads"] = std::move(threads);
    out["samples"] = std::move(samples);
    return out;
}

std::string to_csv(const LiveProcessResult& r) {
    std::string out =
        "t_s,threads,stacks_reserved_kib,stacks_resident_kib,max_high_water_kib,rss_kib\n";
    for (const auto& s : r.samples)
        out += fmt::format("{:.3f},{},{},{},{},{}\n", s.t_s, s.threads, s.stacks_reserved_kib,
                           s.stacks_resident_kib, s.max_high_water_kib, s.rss_kib);
    return out;
}

std::string to_table(const LiveProcessResult& r) {
    std::string out = fmt::format("threadprobe {}: pid {} ({}), read from /proc only\n",
                                  THREADPROBE_VERSION, r.stacks.pid, r.stacks.name);
    out += fmt::format(
        "memory:  {} threads, VSZ {}, RSS {} ({} anonymous)\n"
        "         stacks {} reserved, {} resident; kernel stacks {} ({} each, measured here); "
        "page tables {}; other resident {}\n",
        r.memory.threads, format_kib(static_cast<double>(r.memory.vsz_kib)),
        format_kib(static_cast<double>(r.memory.rss_kib)),
        format_kib(static_cast<double>(r.memory.rss_anon_kib)),
        format_kib(static_cast<double>(r.stacks_reserved_kib)),
        format_kib(static_cast<double>(r.stacks_resident_kib)),
        format_kib(static_cast<double>(r.kernel_stacks_kib)),
        format_kib(r.kernel_stack_kib_per_thread),
        format_kib(static_cast<double>(r.memory.pte_kib)),
        format_kib(static_cast<double>(r.other_resident_kib)));
    if (r.high_water) {
        const auto& h = *r.high_water;
        out += fmt::format(
            "stacks:  high-water of {} threads: min {}, p50 {}, p90 {}, max {} ({}); they "
            "reserve {} each\n         suggestion: a {} stack holds the deepest use seen with "
            "half again to spare (evidence: the high-water marks above, page granular)\n",
            h.threads, format_kib(static_cast<double>(h.min_kib)),
            format_kib(static_cast<double>(h.p50_kib)), format_kib(static_cast<double>(h.p90_kib)),
            format_kib(static_cast<double>(h.max_kib)), fmt::join(h.names_at_max, ", "),
            format_kib(static_cast<double>(h.reserved_p50_kib)),
            format_kib(static_cast<double>(h.suggested_stack_kib)));
    }
    if (r.forecast.threads)
        out += fmt::format("limits:  at most {} threads ({} more) at {} stacks, bound by {}{}\n",
                           *r.forecast.threads, *r.forecast.threads - r.forecast.current_threads,
                           format_size(r.forecast.cost.stack_bytes), r.forecast.binding_limit,
                           r.forecast.binding() && !r.forecast.binding()->knob.empty()
                               ? fmt::format(" (to move it: {})", r.forecast.binding()->knob)
                               : "");
    // Thousands of threads: the table shows the first 20 and the deepest; the JSON has all.
    constexpr std::size_t kShown = 20;
    out += fmt::format("\n{:>8} {:<16} {:>1} {:>12} {:>8} {:>10} {:>10}  {}\n", "tid", "name", "S",
                       "reserved", "guard", "resident", "high-water", "located by");
    std::vector<const ThreadStack*> shown;
    for (const auto& t : r.stacks.threads) shown.push_back(&t);
    if (shown.size() > kShown) {
        std::stable_sort(shown.begin(), shown.end(),
                         [](const ThreadStack* a, const ThreadStack* b) {
                             return a->high_water_kib > b->high_water_kib;
                         });
        shown.resize(kShown);
    }
    for (const ThreadStack* t : shown)
        out += fmt::format("{:>8} {:<16} {:>1} {:>12} {:>8} {:>10} {:>10}  {}\n", t->tid,
                           t->name.substr(0, 16), t->state,
                           format_kib(static_cast<double>(t->reserved_kib)),
                           format_kib(static_cast<double>(t->guard_kib)),
                           format_kib(static_cast<double>(t->resident_kib)),
                           format_kib(static_cast<double>(t->high_water_kib)), t->located_by);
    if (r.stacks.threads.size() > kShown)
        out += fmt::format("({} of {} threads shown: the deepest; every one is in the JSON)\n",
                           kShown, r.stacks.threads.size());
    if (r.stacks.vanished > 0)
        out += fmt::format("{} threads exited between listing and reading: skipped\n",
                           r.stacks.vanished);
    if (r.samples.size() > 1)
        out +=
            fmt::format("watch: {} samples over {:.1f} s; deepest stack use grew from {} to {}\n",
                        r.samples.size(), r.samples.back().t_s,
                        format_kib(static_cast<double>(r.samples.front().max_high_water_kib)),
                        format_kib(static_cast<double>(r.samples.back().max_high_water_kib)));
    if (r.stacks.incomplete) out += fmt::format("incomplete: {}\n", r.stacks.incomplete_why);
    if (r.interrupted) out += "interrupted: the samples so far are kept\n";
    return out;
}

}  // namespace tp
