#include "inspect_bench.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "child_process.hpp"
#include "procfs.hpp"

namespace tp::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRunTimeout = std::chrono::minutes(2);
constexpr auto kHoldTimeout = std::chrono::minutes(2);
constexpr const char* kPmap = "/usr/bin/pmap";

double timed(const std::string& binary, const std::vector<std::string>& args) {
    const auto start = Clock::now();
    run_to_end(binary, args, kRunTimeout);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds of the children reaped so far: a run's own, as the difference around it.
double children_cpu_s() {
    rusage u{};
    ::getrusage(RUSAGE_CHILDREN, &u);
    const auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

InspectResult run_inspect_bench(const InspectConfig& config, const Environment& env) {
    InspectResult r;
    r.config = config;
    r.pmap_found = std::filesystem::exists(kPmap);
    EmbeddedServer server = start_server(env, "threads", config.connections + 16, config.stack);
    Subprocess holder = start_child(env.program("hold_connections"),
                                    {"--connect", endpoint_text(server.endpoint()), "--connections",
                                     std::to_string(config.connections)});
    const auto line = holder.read_line(kHoldTimeout);
    if (!line) throw std::runtime_error("hold_connections said nothing: " + last_words(holder));
    if (const auto m = ProcFs{}.process(server.pid())) r.threads = m->threads;
    const std::string pid = std::to_string(server.pid());
    const auto json_path = (env.scratch / "threadprobe-pid.json").string();
    const std::vector<std::string> probe = {"--pid", pid, "--quiet", "--json", json_path};
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        env.progress(
            fmt::format("inspect {}/{}: {} threads", rep + 1, config.repetitions, r.threads));
        double p = 0, m = 0;
        const auto probe_run = [&] {
            const double cpu_before = children_cpu_s();
            p = timed(env.program("threadprobe"), probe);
            r.single_cpu_s.add(children_cpu_s() - cpu_before);
        };
        if (rep % 2 == 0) probe_run();
        if (r.pmap_found) m = timed(kPmap, {"-X", pid});
        if (rep % 2 == 1) probe_run();
        r.probe_s.add(p);
        if (r.pmap_found) r.pmap_s.add(m);
    }
    if (r.pmap_found) r.ratio = paired_ratios(r.probe_s, r.pmap_s);
    env.progress(fmt::format("inspect: --watch {}s", config.watch.count()));
    const double cpu_before = children_cpu_s();
    run_to_end(env.program("threadprobe"),
               {"--pid", pid, "--watch", fmt::format("{}s", config.watch.count()), "--interval",
                "1s", "--quiet", "--json", json_path},
               kRunTimeout);
    r.watch_cpu_s = children_cpu_s() - cpu_before;
    const double watched_s = std::chrono::duration<double>(config.watch).count();
    r.watch_cpu_percent = 100 * std::max(0.0, r.watch_cpu_s - r.single_cpu_s.median()) / watched_s;
    holder.close_stdin();
    wait_or_kill(holder, std::chrono::seconds(30));
    server.stop(std::chrono::seconds(10));
    return r;
}

nlohmann::json to_json(const InspectResult& r) {
    return {{"subject",
             fmt::format("fibserver --model threads holding {} connections", r.config.connections)},
            {"threads", r.threads},
            {"threadprobe_s", to_json(r.probe_s)},
            {"pmap_s", r.pmap_found ? to_json(r.pmap_s) : nlohmann::json(nullptr)},
            {"ratio", r.pmap_found ? to_json(r.ratio) : nlohmann::json(nullptr)},
            {"single_cpu_s", to_json(r.single_cpu_s)},
            {"watch_cpu_s", r.watch_cpu_s},
            {"watch_cpu_percent_of_core",
             r.watch_cpu_percent ? nlohmann::json(*r.watch_cpu_percent) : nlohmann::json(nullptr)}};
}

}  // namespace tp::bench
