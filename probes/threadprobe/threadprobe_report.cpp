#include "threadprobe_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <vector>

#include "json_fields.hpp"
#include "units.hpp"

namespace tp {
namespace {

using nlohmann::json;

double seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

json config_json(const ThreadProbeResult& r) {
    const auto& c = r.config;
    return {{"threads", c.threads},
            {"stack", c.stack ? json(*c.stack) : json("default")},
            {"stack_bytes", r.effective_stack_bytes},
            {"request_n", c.request_n},
            {"touch_bytes", c.touch_bytes},
            {"cpuset", c.cpuset.empty() ? json(nullptr) : json(c.cpuset)},
            {"baseline_s", seconds(c.baseline)},
            {"hold_s", seconds(c.hold)},
            {"interval_s", seconds(c.interval)},
            {"server",
             {{"endpoint", fmt::format("{}:{}", r.server.endpoint.host, r.server.endpoint.port)},
              {"pid", r.server.pid ? json(*r.server.pid) : json(nullptr)},
              {"model", r.server.model},
              {"embedded", r.server.embedded}}}};
}

// The kernel's side of a connection, which no process's RSS shows: the socket caches one by
// one, then the largest few others that moved (a thread's task_struct, for one), in one line.
std::string socket_kernel_text(const SocketKernelCost& k) {
    constexpr std::size_t kOthersShown = 4;
    std::string out = fmt::format("socket kernel memory, per connection end ({} ends, {}): {}\n",
                                  k.ends, slab_source_name(k.source), format_kib(k.kib_per_end));
    std::vector<std::string> others;
    // Below 0.05 KiB an end a cache shows as 0.0: the JSON has it.
    for (const auto& cache : k.caches) {
        if (std::abs(cache.kib_per_end) < 0.05) continue;
        const std::string line = fmt::format("{} {}", cache.name, format_kib(cache.kib_per_end));
        if (cache.counted)
            out += fmt::format("  {:<20} {:>10}\n", cache.name, format_kib(cache.kib_per_end));
        else if (others.size() < kOthersShown)
            others.push_back(line);
    }
    if (!others.empty())
        out += fmt::format("  not the socket's, also moved: {} (per end; JSON has every cache)\n",
                           fmt::join(others, ", "));
    return out;
}

}  // namespace

json to_json(const Failure& f) {
    json j = to_json(f.diagnosis);
    j["side"] = f.side;
    j["operation"] = f.operation;
    j["at_thread"] = f.at_thread;
    j["error"] = f.error;
    return j;
}

void from_json(const json& j, Failure& f) {
    f.side = j.at("side");
    f.operation = j.at("operation");
    f.at_thread = j.at("at_thread");
    f.error = j.at("error");
    f.diagnosis = j.get<Diagnosis>();
}

json to_json(const ThreadProbeResult& r) {
    json samples = json::array();
    for (const auto& s : r.samples) samples.push_back(to_json(s));
    json summary = {
        {"threads_requested", r.config.threads},
        {"threads_spawned", r.spawned},
        {"connections", r.connections},
        {"spawn_s", std::round(r.spawn_s * 1e4) / 1e4},
        {"probe", optional_struct_json(r.costs.probe)},
        {"server", optional_struct_json(r.costs.server)},
        {"system", optional_struct_json(r.costs.system)},
        {"errors",
         {{"connect", r.errors.connect},
          {"request", r.errors.request},
          {"reply", r.errors.reply},
          {"refused", r.errors.refused}}},
        {"sampler",
         {{"samples", r.sampler.samples},
          {"failed_samples", r.sampler.failed_samples},
          {"cpu_s", std::round(r.sampler.cpu_s * 1e6) / 1e6},
          {"wall_s", std::round(r.sampler.wall_s * 1e4) / 1e4},
          {"cpu_percent_of_core", std::round(r.sampler.cpu_percent() * 1e3) / 1e3},
          {"hold_samples", r.sampler.hold_samples},
          {"hold_cpu_per_sample_us", std::round(r.sampler.hold_cpu_per_sample_s() * 1e7) / 10}}},
        {"failure", optional_struct_json(r.failure)},
        {"server_died", r.server_died ? json(*r.server_died) : json(nullptr)},
        {"interrupted", r.interrupted},
    };
    return {{"tool", "threadprobe"},
            {"version", THREADPROBE_VERSION},
            {"context", to_json(r.context)},
            {"config", config_json(r)},
            {"samples", samples},
            {"summary", summary}};
}

std::string to_csv(const ThreadProbeResult& r) {
    std::string out =
        "t_s,phase,connections,probe_threads,probe_vsz_kib,probe_rss_kib,probe_rss_anon_kib,"
        "probe_pte_kib,server_threads,server_vsz_kib,server_rss_kib,server_rss_anon_kib,"
        "server_pte_kib,kernel_stack_kib,committed_as_kib,mem_available_kib,tasks\n";
    auto side = [](const std::optional<ProcessMemory>& m) {
        if (!m) return std::string(",,,,");
        return fmt::format("{},{},{},{},{}", m->threads, m->vsz_kib, m->rss_kib, m->rss_anon_kib,
                           m->pte_kib);
    };
    auto system = [](const std::optional<SystemMemory>& m) {
        if (!m) return std::string(",,");
        return fmt::format("{},{},{}", m->kernel_stack_kib, m->committed_as_kib,
                           m->mem_available_kib);
    };
    for (const auto& s : r.samples)
        out += fmt::format("{:.4f},{},{},{},{},{},{}\n", s.t_s, phase_name(s.phase), s.connections,
                           side(s.probe), side(s.server), system(s.system),
                           s.tasks ? std::to_string(*s.tasks) : "");
    return out;
}

std::string to_table(const ThreadProbeResult& r) {
    const auto& c = r.config;
    std::string out = fmt::format(
        "threadprobe {}: {} threads, stack {}{}, request fib({}){}\n", THREADPROBE_VERSION,
        c.threads, format_size(r.effective_stack_bytes), c.stack ? "" : " (default)", c.request_n,
        c.touch_bytes ? fmt::format(", touching {} of stack", format_size(c.touch_bytes)) : "");
    if (!c.cpuset.empty()) out += fmt::format("threads bound to PUs {}\n", c.cpuset);
    out += fmt::format("server:  {}:{} model={} pid={}{}\n", r.server.endpoint.host,
                       r.server.endpoint.port, r.server.model,
                       r.server.pid ? std::to_string(*r.server.pid) : "unknown",
                       r.server.embedded ? " (embedded)" : "");
    out += fmt::format("machine: {}\n         {}, glibc {}, page {} B\n\n",
                       r.context.topology.summary(), r.context.kernel, r.context.glibc,
                       r.context.page_size);

    out += fmt::format("connections  {} of {} up, spawn+connect {:.3f} s ({:.1f} us each)\n\n",
                       r.connections, c.threads, r.spawn_s,
                       r.connections ? r.spawn_s * 1e6 / static_cast<double>(r.connections) : 0.0);
    out += fmt::format("{:<8} {:>8} {:>12} {:>12} {:>12} {:>12}\n", "side", "threads", "VSZ/thread",
                       "RSS/thread", "anon/thread", "PTE/thread");
    auto row = [&](const char* name, const std::optional<SideCost>& s) {
        if (!s) {
            out += fmt::format("{:<8} {:>8}  (not sampled: pass --server-pid)\n", name, "-");
            return;
        }
        out +=
            fmt::format("{:<8} {:>8} {:>12} {:>12} {:>12} {:>12}\n", name, s->threads_added,
                        format_kib(s->vsz_per_thread_kib), format_kib(s->rss_per_thread_kib),
                        format_kib(s->rss_anon_per_thread_kib), format_kib(s->pte_per_thread_kib));
    };
    row("probe", r.costs.probe);
    row("server", r.costs.server);
    if (r.costs.system) {
        const auto& s = *r.costs.system;
        out += fmt::format(
            "\nsystem, per task added ({} tasks, {}): kernel stack {}, commit charge {}\n",
            s.tasks_added, tasks_counted_name(s.tasks_counted),
            format_kib(s.kernel_stack_per_task_kib), format_kib(s.commit_per_task_kib));
        if (s.other_activity())
            out += fmt::format(
                "  (the machine's task count moved by {} meanwhile, not {}: other activity is in "
                "these system-wide figures)\n",
                *s.machine_tasks_added, s.tasks_added);
        if (s.socket_kernel) out += socket_kernel_text(*s.socket_kernel);
    }
    if (r.errors.total() > 0)
        out +=
            fmt::format("\nerrors: {} connect, {} request, {} wrong reply, {} refused by server\n",
                        r.errors.connect, r.errors.request, r.errors.reply, r.errors.refused);
    if (r.failure) {
        const auto& f = *r.failure;
        out += fmt::format("\nFAILED at thread {}: {} {} failed: {}\n", f.at_thread, f.side,
                           f.operation, f.error);
        out += fmt::format("binding limit: {}\nevidence: {}\n", f.diagnosis.binding_limit,
                           f.diagnosis.evidence);
    }
    if (r.server_died) out += fmt::format("\nthe server died mid-run: {}\n", *r.server_died);
    if (r.interrupted) out += "\ninterrupted: figures cover what was measured before the stop\n";
    return out;
}

}  // namespace tp
