#include "summary.hpp"

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "json_fields.hpp"
#include "statistics.hpp"

namespace tp {
namespace {

std::optional<ProcessMemory> median_process(
    const std::vector<const Sample*>& samples,
    const std::function<const std::optional<ProcessMemory>&(const Sample&)>& side) {
    std::vector<const ProcessMemory*> present;
    for (const Sample* s : samples)
        if (side(*s)) present.push_back(&*side(*s));
    if (present.empty()) return std::nullopt;
    auto field = [&](std::uint64_t ProcessMemory::*member) {
        std::vector<std::uint64_t> v;
        for (const auto* p : present) v.push_back(p->*member);
        return median(v);
    };
    ProcessMemory m;
    m.vsz_kib = field(&ProcessMemory::vsz_kib);
    m.rss_kib = field(&ProcessMemory::rss_kib);
    m.rss_anon_kib = field(&ProcessMemory::rss_anon_kib);
    m.pte_kib = field(&ProcessMemory::pte_kib);
    m.threads = field(&ProcessMemory::threads);
    return m;
}

double per(double delta, std::uint64_t count) {
    return count > 0 ? delta / static_cast<double>(count) : 0.0;
}

double delta(std::uint64_t after, std::uint64_t before) {
    return static_cast<double>(after) - static_cast<double>(before);
}

std::optional<SideCost> side_cost(const std::optional<ProcessMemory>& baseline,
                                  const std::optional<ProcessMemory>& plateau) {
    if (!baseline || !plateau) return std::nullopt;
    SideCost c;
    c.baseline = *baseline;
    c.plateau = *plateau;
    c.threads_added =
        plateau->threads > baseline->threads ? plateau->threads - baseline->threads : 0;
    c.vsz_per_thread_kib = per(delta(plateau->vsz_kib, baseline->vsz_kib), c.threads_added);
    c.rss_per_thread_kib = per(delta(plateau->rss_kib, baseline->rss_kib), c.threads_added);
    c.rss_anon_per_thread_kib =
        per(delta(plateau->rss_anon_kib, baseline->rss_anon_kib), c.threads_added);
    c.pte_per_thread_kib = per(delta(plateau->pte_kib, baseline->pte_kib), c.threads_added);
    return c;
}

}  // namespace

std::optional<Sample> median_of_phase(const std::vector<Sample>& samples, Phase phase) {
    std::vector<const Sample*> in_phase;
    for (const auto& s : samples)
        if (s.phase == phase && !s.failed()) in_phase.push_back(&s);
    if (in_phase.empty()) return std::nullopt;
    Sample m = *in_phase.back();
    m.probe = median_process(
        in_phase, [](const Sample& s) -> const auto& { return s.probe; });
    m.server = median_process(
        in_phase, [](const Sample& s) -> const auto& { return s.server; });
    auto sys = [&](std::uint64_t SystemMemory::*member) {
        std::vector<std::uint64_t> v;
        for (const Sample* s : in_phase) v.push_back(*s->system.*member);
        return median(v);
    };
    SystemMemory& system = m.system.emplace();
    system.mem_total_kib = sys(&SystemMemory::mem_total_kib);
    system.mem_available_kib = sys(&SystemMemory::mem_available_kib);
    system.kernel_stack_kib = sys(&SystemMemory::kernel_stack_kib);
    system.committed_as_kib = sys(&SystemMemory::committed_as_kib);
    system.commit_limit_kib = sys(&SystemMemory::commit_limit_kib);
    std::vector<std::uint64_t> tasks;
    for (const Sample* s : in_phase)
        if (s->tasks) tasks.push_back(*s->tasks);
    m.tasks = tasks.empty() ? std::nullopt : std::optional(median(tasks));
    std::vector<std::uint64_t> conns;
    for (const Sample* s : in_phase) conns.push_back(s->connections);
    m.connections = median(conns);
    return m;
}

const char* tasks_counted_name(TasksCounted t) {
    return t == TasksCounted::machine ? "machine" : "probe and server";
}

nlohmann::json to_json(const SideCost& c) {
    // Rounded to 0.01 KiB: beyond that the figures are noise, and the JSON stays readable.
    return {{"threads_added", c.threads_added},
            {"vsz_per_thread_kib", rounded(c.vsz_per_thread_kib, 100)},
            {"rss_per_thread_kib", rounded(c.rss_per_thread_kib, 100)},
            {"rss_anon_per_thread_kib", rounded(c.rss_anon_per_thread_kib, 100)},
            {"pte_per_thread_kib", rounded(c.pte_per_thread_kib, 100)},
            {"baseline", to_json(c.baseline)},
            {"plateau", to_json(c.plateau)}};
}

void from_json(const nlohmann::json& j, SideCost& c) {
    c.threads_added = j.at("threads_added");
    c.vsz_per_thread_kib = j.at("vsz_per_thread_kib");
    c.rss_per_thread_kib = j.at("rss_per_thread_kib");
    c.rss_anon_per_thread_kib = j.at("rss_anon_per_thread_kib");
    c.pte_per_thread_kib = j.at("pte_per_thread_kib");
    c.baseline = j.at("baseline").get<ProcessMemory>();
    c.plateau = j.at("plateau").get<ProcessMemory>();
}

nlohmann::json to_json(const SystemCost& c) {
    return {{"tasks_added", c.tasks_added},
            {"tasks_counted", tasks_counted_name(c.tasks_counted)},
            {"kernel_stack_per_task_kib", rounded(c.kernel_stack_per_task_kib, 100)},
            {"commit_per_task_kib", rounded(c.commit_per_task_kib, 100)},
            {"machine_tasks_added", optional_json(c.machine_tasks_added)},
            {"other_activity", c.other_activity()},
            {"socket_kernel_kib_per_end",
             c.socket_kernel ? nlohmann::json(rounded(c.socket_kernel->kib_per_end, 1000))
                             : nlohmann::json()},
            {"socket_kernel", optional_struct_json(c.socket_kernel)}};
}

void from_json(const nlohmann::json& j, SystemCost& c) {
    c.tasks_added = j.at("tasks_added");
    const std::string counted = j.at("tasks_counted");
    if (counted != tasks_counted_name(TasksCounted::machine) &&
        counted != tasks_counted_name(TasksCounted::probe_and_server))
        throw std::invalid_argument("tasks_counted: '" + counted + "' names no count");
    c.tasks_counted = counted == tasks_counted_name(TasksCounted::machine)
                          ? TasksCounted::machine
                          : TasksCounted::probe_and_server;
    c.kernel_stack_per_task_kib = j.at("kernel_stack_per_task_kib");
    c.commit_per_task_kib = j.at("commit_per_task_kib");
    c.machine_tasks_added = optional_from_json<std::int64_t>(j.at("machine_tasks_added"));
    // Results from before slab readings have none.
    c.socket_kernel.reset();
    if (const auto it = j.find("socket_kernel"); it != j.end() && !it->is_null())
        c.socket_kernel = it->get<SocketKernelCost>();
}

bool SystemCost::other_activity() const {
    if (!machine_tasks_added) return false;
    const double counted = static_cast<double>(tasks_added);
    return std::abs(static_cast<double>(*machine_tasks_added) - counted) > 10 + 0.02 * counted;
}

CostSummary summarize_costs(const std::vector<Sample>& samples) {
    CostSummary out;
    const auto baseline = median_of_phase(samples, Phase::baseline);
    const auto plateau = median_of_phase(samples, Phase::hold);
    if (!baseline || !plateau) return out;
    out.probe = side_cost(baseline->probe, plateau->probe);
    out.server = side_cost(baseline->server, plateau->server);

    SystemCost sys;
    if (baseline->tasks && plateau->tasks)
        sys.machine_tasks_added = static_cast<std::int64_t>(*plateau->tasks) -
                                  static_cast<std::int64_t>(*baseline->tasks);
    if (out.probe && out.server) {
        sys.tasks_added = out.probe->threads_added + out.server->threads_added;
    } else if (baseline->tasks && plateau->tasks && *plateau->tasks > *baseline->tasks) {
        sys.tasks_added = *plateau->tasks - *baseline->tasks;
        sys.tasks_counted = TasksCounted::machine;
    }
    sys.kernel_stack_per_task_kib =
        per(delta(plateau->system->kernel_stack_kib, baseline->system->kernel_stack_kib),
            sys.tasks_added);
    sys.commit_per_task_kib =
        per(delta(plateau->system->committed_as_kib, baseline->system->committed_as_kib),
            sys.tasks_added);
    out.system = sys;
    return out;
}

}  // namespace tp
