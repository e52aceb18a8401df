#include "spawn_bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <stdexcept>

#include "child_process.hpp"
#include "procfs.hpp"

namespace tp::bench {
namespace {

constexpr auto kRunTimeout = std::chrono::minutes(2);
// Queue room per thread: the kernel spreads connections over the listeners by a hash of the
// connection, not evenly, so a queue may take more than its share.
constexpr double kQueueMargin = 1.5;

// bare_listener, running, with room in its accept queues for every thread.
struct Listener {
    Subprocess process;
    Endpoint endpoint;
    pid_t pid = -1;
};

Listener start_listener(const SpawnConfig& config, const Environment& env) {
    const std::uint64_t queue = ProcFs{}.sysctl("net.core.somaxconn").value_or(4096);
    const auto listeners = static_cast<std::uint64_t>(
        std::ceil(static_cast<double>(config.threads) * kQueueMargin / static_cast<double>(queue)));
    Listener l{start_child(env.program("bare_listener"),
                           {"--listeners", std::to_string(std::max<std::uint64_t>(1, listeners)),
                            "--backlog", std::to_string(queue)}),
               {},
               -1};
    const auto line = l.process.read_line(std::chrono::seconds(10));
    static const std::regex ready(
        R"(^bare_listener: listening on ([0-9.]+):([0-9]+) pid=([0-9]+)$)");
    std::smatch m;
    if (!line || !std::regex_match(*line, m, ready))
        throw std::runtime_error(
            fmt::format("bare_listener did not start: {}", line ? *line : last_words(l.process)));
    l.endpoint = parse_endpoint(m[1].str() + ":" + m[2].str());
    l.pid = static_cast<pid_t>(std::stol(m[3].str()));
    return l;
}

void stop(Listener& l) {
    l.process.close_stdin();
    wait_or_kill(l.process, std::chrono::seconds(10));
}

double run_bare(const SpawnConfig& config, const Environment& env) {
    Listener server = start_listener(config, env);
    const std::string out =
        run_to_end(env.program("bare_spawn"),
                   {"--connect", endpoint_text(server.endpoint), "--threads",
                    std::to_string(config.threads), "--stack", std::to_string(config.stack)},
                   kRunTimeout);
    stop(server);
    const nlohmann::json line = parse_json_line(out, "bare_spawn");
    if (line.at("connected").get<std::uint64_t>() != config.threads)
        throw std::runtime_error(fmt::format("bare_spawn connected {} of {} threads",
                                             line.at("connected").dump(), config.threads));
    return line.at("spawn_s").get<double>();
}

struct ProbeRun {
    double spawn_s = 0;
    double sampler_hold_percent = 0;
    double sampler_life_percent = 0;
    double sampler_us_per_sample = 0;
};

ProbeRun run_probe(const SpawnConfig& config, const Environment& env, unsigned repetition) {
    Listener server = start_listener(config, env);
    const auto json_path = env.scratch / fmt::format("threadprobe-{}.json", repetition + 1);
    // Its full job: it samples the server's memory too, as it does its own embedded server's.
    run_to_end(
        env.program("threadprobe"),
        {"--threads", std::to_string(config.threads), "--stack", std::to_string(config.stack),
         "--connect", endpoint_text(server.endpoint), "--server-pid", std::to_string(server.pid),
         "--baseline", "100ms", "--hold", duration_arg(config.hold), "--interval",
         duration_arg(config.interval), "--json", json_path.string(), "--quiet"},
        kRunTimeout);
    stop(server);
    const nlohmann::json summary = read_json_file(json_path).at("summary");
    if (summary.at("connections").get<std::uint64_t>() != config.threads)
        throw std::runtime_error(fmt::format("threadprobe connected {} of {} threads",
                                             summary.at("connections").dump(), config.threads));
    const nlohmann::json& sampler = summary.at("sampler");
    const double per_sample_us = sampler.at("hold_cpu_per_sample_us").get<double>();
    const double interval_s = std::chrono::duration<double>(config.interval).count();
    return {summary.at("spawn_s").get<double>(), 100.0 * per_sample_us * 1e-6 / interval_s,
            sampler.at("cpu_percent_of_core").get<double>(), per_sample_us};
}

}  // namespace

SpawnResult run_spawn_bench(const SpawnConfig& config, const Environment& env) {
    SpawnResult r;
    r.config = config;
    const auto overflows_before = listen_overflows();
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        // Alternate which goes first, so neither always follows the other's teardown.
        const bool bare_first = rep % 2 == 0;
        ProbeRun probe;
        double bare = 0;
        env.progress(
            fmt::format("spawn {}/{}: {} threads", rep + 1, config.repetitions, config.threads));
        if (bare_first) bare = run_bare(config, env);
        probe = run_probe(config, env, rep);
        if (!bare_first) bare = run_bare(config, env);
        r.bare_s.add(bare);
        r.probe_s.add(probe.spawn_s);
        r.sampler_hold_percent.add(probe.sampler_hold_percent);
        r.sampler_life_percent.add(probe.sampler_life_percent);
        r.sampler_us_per_sample.add(probe.sampler_us_per_sample);
    }
    r.ratio = paired_ratios(r.probe_s, r.bare_s);
    if (const auto after = listen_overflows(); after && overflows_before)
        r.listen_overflows = *after - *overflows_before;
    return r;
}

nlohmann::json to_json(const SpawnResult& r) {
    return {{"threads", r.config.threads},
            {"stack_bytes", r.config.stack},
            {"server",
             "bare_listener: SO_REUSEPORT sockets with accept-queue room for every thread, one "
             "epoll thread answering; fresh for every run"},
            {"listen_overflows",
             r.listen_overflows ? nlohmann::json(*r.listen_overflows) : nlohmann::json(nullptr)},
            {"bare_s", to_json(r.bare_s)},
            {"threadprobe_s", to_json(r.probe_s)},
            {"ratio", to_json(r.ratio)},
            {"sampler",
             {{"interval_s", std::chrono::duration<double>(r.config.interval).count()},
              {"hold_cpu_percent_of_core", to_json(r.sampler_hold_percent)},
              {"life_cpu_percent_of_core", to_json(r.sampler_life_percent)},
              {"hold_cpu_us_per_sample", to_json(r.sampler_us_per_sample, 1)},
              {"smaps", "not read: the sampler reads status, meminfo and loadavg only"}}}};
}

}  // namespace tp::bench
