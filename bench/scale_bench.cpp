#include "scale_bench.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "child_process.hpp"
#include "limits.hpp"
#include "procfs.hpp"

namespace tp::bench {
namespace {

using namespace std::chrono_literals;

// Offered beyond what the server's descriptor limit could ever hold, so the server, not the
// offer, is what stops the ramp.
constexpr std::uint64_t kOfferedBeyond = 16;
// Descriptors a holder needs beside its connections (stdio and slack).
constexpr std::uint64_t kHolderReserve = 64;
constexpr auto kRampTimeout = std::chrono::minutes(3);

struct Reading {
    ProcessMemory server;
    std::uint64_t kernel_stack_kib = 0;
};

// Three readings 100 ms apart, each figure's median: one late page-in or a neighbour's
// short-lived threads do not make the plateau.
Reading settled_reading(const ProcFs& fs, pid_t server) {
    std::vector<double> anon, pte, threads, kstack;
    for (int i = 0; i < 3; ++i) {
        if (i > 0) std::this_thread::sleep_for(100ms);
        const auto m = fs.process(server);
        if (!m) throw std::runtime_error("the server exited while it was being measured");
        anon.push_back(static_cast<double>(m->rss_anon_kib));
        pte.push_back(static_cast<double>(m->pte_kib));
        threads.push_back(static_cast<double>(m->threads));
        const auto system = fs.system();
        if (!system) throw std::runtime_error("/proc/meminfo cannot be read");
        kstack.push_back(static_cast<double>(system->kernel_stack_kib));
    }
    Reading r;
    r.server.rss_anon_kib = static_cast<std::uint64_t>(median(anon));
    r.server.pte_kib = static_cast<std::uint64_t>(median(pte));
    r.server.threads = static_cast<std::uint64_t>(median(threads));
    r.kernel_stack_kib = static_cast<std::uint64_t>(median(kstack));
    return r;
}

std::uint64_t descriptor_hard_limit() {
    rlimit l{};
    if (::getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_max == RLIM_INFINITY) return 1 << 20;
    return l.rlim_max;
}

ScaleRun run_once(const std::string& model, const ScaleConfig& config, const Environment& env) {
    const ProcFs fs;
    ScaleRun run;
    // fibserver raises its soft descriptor limit to the hard one it inherits from us.
    run.offered = descriptor_hard_limit() + kOfferedBeyond;
    const bool threaded = model == "threads";
    const auto stack = threaded ? std::optional(config.thread_stack) : std::nullopt;
    EmbeddedServer server = start_server(env, model, run.offered, stack);
    std::this_thread::sleep_for(200ms);
    const Reading before = settled_reading(fs, server.pid());

    const std::uint64_t per_holder = descriptor_hard_limit() - kHolderReserve;
    const std::uint64_t holders_needed =
        std::max<std::uint64_t>(2, (run.offered + per_holder - 1) / per_holder);
    std::vector<Subprocess> holders;
    for (std::uint64_t i = 0; i < holders_needed; ++i) {
        const std::uint64_t share =
            run.offered / holders_needed + (i < run.offered % holders_needed ? 1 : 0);
        holders.push_back(start_child(env.program("hold_connections"),
                                      {"--connect", endpoint_text(server.endpoint()),
                                       "--connections", std::to_string(share)}));
    }
    std::vector<std::string> stops;
    for (auto& holder : holders) {
        const auto line = holder.read_line(kRampTimeout);
        if (!line) {
            const std::string said = last_words(holder);
            throw std::runtime_error(
                fmt::format("hold_connections said nothing{}", said.empty() ? "" : ": " + said));
        }
        const nlohmann::json report = parse_json_line(*line, "hold_connections");
        run.connections += report.at("served").get<std::uint64_t>();
        const std::string why = report.at("stopped_by").get<std::string>();
        if (why != "done") stops.push_back(why);
    }
    run.stopped_by = stops.empty() ? "every offered connection served" : stops.front();

    std::this_thread::sleep_for(300ms);
    const Reading held = settled_reading(fs, server.pid());
    const std::uint64_t stack_bytes = (threaded ? config.thread_stack : 0) + kThreadGuardBytes;
    const Diagnosis diagnosis = diagnose(read_limits(fs, server.pid(), {stack_bytes, true}));
    run.limit = diagnosis.binding_limit;
    run.evidence = diagnosis.evidence;

    for (auto& holder : holders) holder.close_stdin();
    for (auto& holder : holders) wait_or_kill(holder, std::chrono::seconds(30));
    server.stop(std::chrono::seconds(10));

    if (run.connections == 0) throw std::runtime_error(model + ": no connection was served");
    const auto n = static_cast<double>(run.connections);
    auto per_conn = [n](std::uint64_t after, std::uint64_t base) {
        return (static_cast<double>(after) - static_cast<double>(base)) / n;
    };
    run.threads_added = static_cast<std::int64_t>(held.server.threads) -
                        static_cast<std::int64_t>(before.server.threads);
    run.user_kib_per_conn = per_conn(held.server.rss_anon_kib, before.server.rss_anon_kib);
    run.pte_kib_per_conn = per_conn(held.server.pte_kib, before.server.pte_kib);
    run.kernel_stack_kib_per_conn = per_conn(held.kernel_stack_kib, before.kernel_stack_kib);
    return run;
}

// The value most runs gave; the first one's on a tie.
std::string most_common(const std::vector<std::string>& values) {
    std::string best;
    std::size_t best_count = 0;
    for (const auto& v : values) {
        const auto count = static_cast<std::size_t>(std::count(values.begin(), values.end(), v));
        if (count > best_count) {
            best = v;
            best_count = count;
        }
    }
    return best;
}

}  // namespace

ScaleResult run_scale_bench(const ScaleConfig& config, const Environment& env) {
    ScaleResult r;
    r.config = config;
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        for (std::size_t i = 0; i < config.models.size(); ++i) {
            // Rotated, so no model always runs right after the other's teardown.
            const std::string& model = config.models[(i + rep) % config.models.size()];
            env.progress(fmt::format("scale {}/{}: {}", rep + 1, config.repetitions, model));
            ScaleModelResult& m = r.models[model];
            m.runs.push_back(run_once(model, config, env));
            const ScaleRun& run = m.runs.back();
            m.connections.add(static_cast<double>(run.connections));
            m.user_kib.add(run.user_kib_per_conn);
            m.kernel_stack_kib.add(run.kernel_stack_kib_per_conn);
            m.pte_kib.add(run.pte_kib_per_conn);
        }
    }
    for (auto& [model, m] : r.models) {
        std::vector<std::string> limits, stops;
        for (const auto& run : m.runs) {
            limits.push_back(run.limit);
            stops.push_back(run.stopped_by);
        }
        m.limit = most_common(limits);
        m.stopped_by = most_common(stops);
        for (const auto& run : m.runs)
            if (run.limit == m.limit) {
                m.evidence = run.evidence;
                break;
            }
    }
    return r;
}

nlohmann::json to_json(const ScaleResult& r) {
    nlohmann::json models = nlohmann::json::object();
    for (const auto& [model, m] : r.models) {
        nlohmann::json runs = nlohmann::json::array();
        for (const auto& run : m.runs)
            runs.push_back(
                {{"offered", run.offered},
                 {"connections", run.connections},
                 {"stopped_by", run.stopped_by},
                 {"limit", run.limit},
                 {"evidence", run.evidence},
                 {"threads_added", run.threads_added},
                 {"user_kib_per_conn", round_to(run.user_kib_per_conn, 3)},
                 {"kernel_stack_kib_per_conn", round_to(run.kernel_stack_kib_per_conn, 3)},
                 {"pte_kib_per_conn", round_to(run.pte_kib_per_conn, 3)}});
        models[model] = {{"connections", to_json(m.connections, 0)},
                         {"user_kib_per_conn", to_json(m.user_kib, 3)},
                         {"kernel_stack_kib_per_conn", to_json(m.kernel_stack_kib, 3)},
                         {"pte_kib_per_conn", to_json(m.pte_kib, 3)},
                         {"limit", m.limit},
                         {"evidence", m.evidence},
                         {"stopped_by", m.stopped_by},
                         {"runs", runs}};
    }
    return {{"thread_stack_bytes", r.config.thread_stack},
            {"client", "hold_connections: one thread per holder process, no thread per connection"},
            {"models", models}};
}

}  // namespace tp::bench
