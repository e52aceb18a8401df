#include "latencyprobe.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <thread>

#include "fib.hpp"
#include "stop_signal.hpp"
#include "topology.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double round3(double v) {
    return std::round(v * 1000) / 1000;
}

json stats_json(const LatencyStats& s) {
    return {{"requests", s.requests},     {"p50_ms", round3(s.p50_ms)},
            {"p90_ms", round3(s.p90_ms)}, {"p99_ms", round3(s.p99_ms)},
            {"max_ms", round3(s.max_ms)}, {"mean_ms", round3(s.mean_ms)}};
}

json speedup_json(const std::optional<ParallelSpeedup>& p) {
    if (!p) return nullptr;
    return {{"threads", p->threads},
            {"one_ms", round3(p->one_ms)},
            {"together_ms", round3(p->together_ms)},
            {"speedup", round3(p->speedup())}};
}

}  // namespace

int LatencyProbeResult::exit_code() const {
    if (interrupted) return 130;
    for (const auto& c : clients)
        if (!c.error.empty()) return 1;
    return 0;
}

LatencyProbeResult run_latencyprobe(const LatencyProbeConfig& config, StopSignal& stop,
                                    const ProgressFn& progress) {
    LatencyProbeResult result;
    result.config = config;
    const CpuClock cpu_at_start = read_cpu_clock(ProcFs{});
    result.context = read_machine_context(ProcFs{}, ::getpid(), {8 << 20, true});
    result.speed_before = check_pu_speeds();
    if (config.placement == Placement::one_pu) {
        // Before the embedded server starts, so that it and every thread and process it makes
        // inherit the binding.
        result.pinned_pu = fastest_pu(*result.speed_before);
        bind_process_tree(::getpid(), *result.pinned_pu);
    }
    // Before the server starts too: a server settling in after its readiness line (a Python
    // one's interpreter, a pool's workers) would compete with the tries that run alone.
    if (config.clients > 1) result.parallelism = measure_parallel_speedup(config.clients);
    ServerHandle server(config.server);
    result.server = server.identity();
    const std::string expected = std::to_string(fib_by_iteration(config.n));

    // Every client connects first, then all start together: the overlap is the experiment.
    std::vector<std::unique_ptr<RequestClient>> connections;
    for (unsigned i = 0; i < config.clients; ++i)
        connections.push_back(
            std::make_unique<RequestClient>(server.endpoint(), config.reply_timeout));
    result.clients.resize(config.clients);
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> answered{0};
    std::atomic<unsigned> running{config.clients};
    std::latch start(config.clients + 1);
    const auto deadline_of = [&](Clock::time_point t0) {
        return config.duration ? t0 + *config.duration : Clock::time_point::max();
    };
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < config.clients; ++i) {
        threads.emplace_back([&, i] {
            ClientLatency& mine = result.clients[i];
            start.arrive_and_wait();
            const auto deadline = deadline_of(Clock::now());
            while (!done.load() && Clock::now() < deadline &&
                   (!config.count || mine.latencies_ms.size() < *config.count)) {
                const auto t = Clock::now();
                const auto reply = connections[i]->ask(config.n, mine.error);
                if (!reply) break;
                if (*reply != expected) {
                    mine.error =
                        fmt::format("fib({}) answered '{}', not {}", config.n, *reply, expected);
                    break;
                }
                mine.latencies_ms.push_back(
                    std::chrono::duration<double, std::milli>(Clock::now() - t).count());
                ++answered;
            }
            // Hang up when done, as perf1.py's user would: under the iterative model the next
            // client is served only then, and its first latency shows the wait.
            connections[i].reset();
            --running;
        });
    }
    const auto t0 = Clock::now();
    start.arrive_and_wait();
    const std::uint64_t total = config.count ? *config.count * config.clients : 0;
    // Woken every few milliseconds, so that the run ends soon after its last reply (a wait of
    // 200 ms added up to that to every run); progress is said every 200 ms.
    auto next_progress = Clock::now();
    while (running.load() > 0) {
        if (stop.wait_for(std::chrono::milliseconds(5))) {
            result.interrupted = true;
            break;
        }
        if (Clock::now() < next_progress) continue;
        next_progress += std::chrono::milliseconds(200);
        progress(total ? fmt::format("{} of {} requests answered", answered.load(), total)
                       : fmt::format("{} requests answered", answered.load()));
    }
    done = true;
    for (auto& t : threads) t.join();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> all;
    for (auto& c : result.clients) {
        c.stats = latency_stats(c.latencies_ms);
        all.insert(all.end(), c.latencies_ms.begin(), c.latencies_ms.end());
    }
    result.overall = latency_stats(all);
    if (config.clients > 1 && !result.interrupted)
        result.parallelism_after = measure_parallel_speedup(config.clients);
    if (!result.interrupted) result.speed_after = check_pu_speeds();
    server.stop();
    result.load = load_between(cpu_at_start, read_cpu_clock(ProcFs{}));
    return result;
}

json to_json(const LatencyProbeResult& r) {
    json clients = json::array();
    for (const auto& c : r.clients) {
        json j = stats_json(c.stats);
        j["error"] = c.error.empty() ? json(nullptr) : json(c.error);
        json lat = json::array();
        for (double v : c.latencies_ms) lat.push_back(round3(v));
        j["latencies_ms"] = lat;
        clients.push_back(j);
    }
    return {
        {"tool", "latencyprobe"},
        {"version", THREADPROBE_VERSION},
        {"context", to_json(r.context)},
        {"config",
         {{"clients", r.config.clients},
          {"n", r.config.n},
          {"count", r.config.count ? json(*r.config.count) : json(nullptr)},
          {"duration_s", r.config.duration
                             ? json(std::chrono::duration<double>(*r.config.duration).count())
                             : json(nullptr)},
          {"server", r.server.description()},
          {"server_model", r.server.embedded ? json(r.server.model) : json(nullptr)},
          {"placement",
           {{"mode", placement_name(r.config.placement)},
            {"pu", r.pinned_pu ? json(*r.pinned_pu) : json(nullptr)}}}}},
        {"load", to_json(r.load)},
        {"parallelism", speedup_json(r.parallelism)},
        {"parallelism_after", speedup_json(r.parallelism_after)},
        {"speed_checks", {{"before", to_json(r.speed_before)}, {"after", to_json(r.speed_after)}}},
        {"summary",
         {{"overall", stats_json(r.overall)},
          {"clients", clients},
          {"elapsed_s", round3(r.elapsed_s)},
          {"interrupted", r.interrupted}}}};
}

std::string to_table(const LatencyProbeResult& r) {
    std::string out = fmt::format(
        "latencyprobe {}: {} client{} repeating fib({})\nserver:  {}\n\n", THREADPROBE_VERSION,
        r.config.clients, r.config.clients == 1 ? "" : "s", r.config.n, r.server.description());
    out += fmt::format("{:<8} {:>9} {:>10} {:>10} {:>10} {:>10}\n", "client", "requests", "p50 ms",
                       "p90 ms", "p99 ms", "max ms");
    auto row = [&](const std::string& name, const LatencyStats& s) {
        out += fmt::format("{:<8} {:>9} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}\n", name,
                           s.requests, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms);
    };
    for (std::size_t i = 0; i < r.clients.size(); ++i)
        row(std::to_string(i + 1), r.clients[i].stats);
    row("all", r.overall);
    for (std::size_t i = 0; i < r.clients.size(); ++i)
        if (!r.clients[i].error.empty())
            out += fmt::format("client {} failed: {}\n", i + 1, r.clients[i].error);
    if (r.interrupted) out += "interrupted: figures cover the requests answered before the stop\n";
    return out;
}

}  // namespace tp
