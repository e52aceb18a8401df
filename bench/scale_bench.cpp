#include "scale_bench.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "child_process.hpp"
#include "forecast.hpp"
#include "limits.hpp"
#include "procfs.hpp"

namespace tp::bench {
namespace {

using namespace std::chrono_literals;

// Offered beyond what the server's descriptor limit could ever hold, so the server, not the
// offer, is what stops the ramp.
constexpr std::uint64_t kOfferedBeyond = 16;
// Descriptors a holder needs beside its connections (stdio and slack), and tasks the holders
// and the server's own threads need beside the connection threads.
constexpr std::uint64_t kHolderReserve = 64;
constexpr auto kRampTimeout = std::chrono::minutes(3);

struct Reading {
    ProcessMemory server;
    std::uint64_t kernel_stack_kib = 0;
};

// The server's worker processes (prefork's, a pool's): every process whose parent it is.
std::vector<pid_t> children_of(const ProcFs& fs, pid_t parent) {
    std::vector<pid_t> children;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(fs.paths().proc, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto stat = read_small_file(entry.path() / "stat");
        if (!stat) continue;
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so from the last ')'.
        const auto close = stat->rfind(')');
        char state = 0;
        int ppid = 0;
        if (close == std::string::npos ||
            std::sscanf(stat->c_str() + close + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (ppid == parent) children.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return children;
}

// The server and its worker processes together: prefork holds a connection in a process.
std::optional<ProcessMemory> server_memory(const ProcFs& fs, pid_t server) {
    auto total = fs.process(server);
    if (!total) return std::nullopt;
    for (const pid_t child : children_of(fs, server))
        if (const auto m = fs.process(child)) {
            total->rss_anon_kib += m->rss_anon_kib;
            total->pte_kib += m->pte_kib;
            total->threads += m->threads;
        }
    return total;
}

// Three readings 100 ms apart, each figure's median: one late page-in or a neighbour's
// short-lived threads do not make the plateau.
Reading settled_reading(const ProcFs& fs, pid_t server) {
    std::vector<double> anon, pte, threads, kstack;
    for (int i = 0; i < 3; ++i) {
        if (i > 0) std::this_thread::sleep_for(100ms);
        const auto m = server_memory(fs, server);
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

// The hard RLIMIT_NOFILE this process and its children get: fs.nr_open where raising it is
// allowed (CAP_SYS_RESOURCE), else what it is, and which of the two.
std::pair<std::uint64_t, std::string> raise_descriptor_ceiling(const ProcFs& fs) {
    const auto nr_open = fs.sysctl("fs.nr_open");
    rlimit l{};
    ::getrlimit(RLIMIT_NOFILE, &l);
    if (nr_open && *nr_open > l.rlim_max) {
        const rlimit raised{*nr_open, *nr_open};
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return {*nr_open, fmt::format("raised from {} to fs.nr_open", l.rlim_max)};
        return {l.rlim_max,
                errno == EPERM
                    ? fmt::format("the hard limit: raising it to fs.nr_open ({}) needs "
                                  "CAP_SYS_RESOURCE, which this process lacks",
                                  *nr_open)
                    : fmt::format("the hard limit: raising it to fs.nr_open ({}) failed: {}",
                                  *nr_open, std::strerror(errno))};
    }
    return {l.rlim_max, "the hard limit (already fs.nr_open or above)"};
}

// Connections from one source address to one server: the ephemeral port range's size.
std::uint64_t ports_per_source(const ProcFs& fs) {
    const auto text = read_small_file(fs.paths().proc / "sys/net/ipv4/ip_local_port_range");
    unsigned low = 0, high = 0;
    if (!text || std::sscanf(text->c_str(), "%u %u", &low, &high) != 2 || high < low)
        return 28'232;  // Linux's default, 32768-60999
    return high - low + 1;
}

// A bound on what one connection costs the machine, both ends, for the memory floor: twice
// the socket memory measured on this machine (about 4.5 KiB an end) and the server's user
// memory; for a thread its kernel stack and the pages of its stack it touches; for a prefork
// worker a whole small process.
std::uint64_t kib_per_connection_bound(const std::string& model) {
    if (model == "prefork") return 1024;
    return model == "threads" || model == "gil" ? 96 : 16;
}

// How many connections a model is offered, and what set that number.
std::pair<std::uint64_t, std::string> offer_for(const std::string& model, const ScaleConfig& config,
                                                const ProcFs& fs, std::uint64_t descriptors) {
    const bool threaded = model == "threads" || model == "gil";
    std::uint64_t offer = descriptors + kOfferedBeyond;
    std::string bound = "the descriptor limit";
    auto cap = [&](std::uint64_t limit, std::string why) {
        if (limit < offer) {
            offer = limit;
            bound = std::move(why);
        }
    };
    if (model == "epoll") cap(config.epoll_connections, "asked");
    if (model == "gil") cap(config.other_connections, "asked");
    // One worker process a connection: as many as fibserver forks.
    if (model == "prefork") cap(config.prefork_workers, "asked");
    if (threaded || model == "prefork") {
        // A task per connection: no closer to pid_max and threads-max than the margin every
        // probe keeps, so the rest of the machine can still start processes.
        const SafetyMargin margin = safety_margin(fs, KeepFree{});
        const auto tasks = fs.tasks();
        if (margin.max_tasks && tasks) {
            const std::uint64_t room = *margin.max_tasks > *tasks + kHolderReserve
                                           ? *margin.max_tasks - *tasks - kHolderReserve
                                           : 0;
            cap(room, "the safety margin: " + margin.evidence);
        }
    }
    if (const auto memory = fs.system()) {
        const auto floor_kib = static_cast<std::uint64_t>(
            static_cast<double>(memory->mem_total_kib) * config.memory_floor_percent / 100);
        const std::uint64_t spare =
            memory->mem_available_kib > floor_kib ? memory->mem_available_kib - floor_kib : 0;
        cap(spare / kib_per_connection_bound(model),
            fmt::format("the memory floor: MemAvailable kept above {:.0f}% of memory at {} KiB a "
                        "connection",
                        config.memory_floor_percent, kib_per_connection_bound(model)));
    }
    return {offer, bound};
}

ScaleRun run_once(const std::string& model, const ScaleConfig& config, const Environment& env,
                  std::uint64_t source_addresses) {
    const ProcFs fs;
    ScaleRun run;
    const std::uint64_t descriptors = descriptor_hard_limit();
    std::tie(run.offered, run.offer_bound) = offer_for(model, config, fs, descriptors);
    const bool threaded = model == "threads" || model == "gil";
    const auto stack = threaded ? std::optional(config.thread_stack) : std::nullopt;
    // prefork forks its workers before any client comes: its baseline is the machine before
    // the server started, so each worker's whole process is in the figure (per worker).
    const bool whole_server = model == "prefork";
    Reading before;
    std::optional<SlabSnapshot> slab_before;
    if (whole_server) {
        const auto system = fs.system();
        if (!system) throw std::runtime_error("/proc/meminfo cannot be read");
        before.kernel_stack_kib = system->kernel_stack_kib;
        slab_before = read_slab(fs);
    }
    // fibserver raises its soft descriptor limit to what --max-connections needs.
    EmbeddedServer server =
        whole_server ? EmbeddedServer::start(FibserverLaunch{.binary = env.program("fibserver"),
                                                             .model = model,
                                                             .workers = config.prefork_workers,
                                                             .connections = run.offered})
                     : start_server(env, model, run.offered, stack);
    std::this_thread::sleep_for(200ms);
    if (!whole_server) {
        before = settled_reading(fs, server.pid());
        slab_before = read_slab(fs);
    }

    const std::uint64_t per_holder = descriptors - kHolderReserve;
    const std::uint64_t holders_needed =
        std::max<std::uint64_t>(2, (run.offered + per_holder - 1) / per_holder);
    std::vector<Subprocess> holders;
    for (std::uint64_t i = 0; i < holders_needed; ++i) {
        const std::uint64_t share =
            run.offered / holders_needed + (i < run.offered % holders_needed ? 1 : 0);
        holders.push_back(
            start_child(env.program("hold_connections"),
                        {"--connect", endpoint_text(server.endpoint()), "--connections",
                         std::to_string(share), "--sources", std::to_string(source_addresses)}));
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
        // The holders open side by side: the ramp lasts as long as the slowest.
        run.open_s = std::max(run.open_s, report.at("open_s").get<double>());
        const std::string why = report.at("stopped_by").get<std::string>();
        if (why != "done") stops.push_back(why);
    }
    run.stopped_by = !stops.empty()               ? stops.front()
                     : run.offer_bound == "asked" ? "every connection asked for served"
                                                  : "every connection offered served, the "
                                                    "offer set by " +
                                                        run.offer_bound;

    std::this_thread::sleep_for(300ms);
    const Reading held = settled_reading(fs, server.pid());
    const auto slab_held = read_slab(fs);
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
    // Both ends of every connection are on this machine: the server's is half the growth.
    if (slab_before && slab_held)
        run.socket_kernel = socket_kernel_cost(*slab_before, *slab_held, 2 * run.connections);
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
    const ProcFs fs;
    std::tie(r.descriptor_limit, r.descriptor_limit_how) = raise_descriptor_ceiling(fs);
    // Enough source addresses for the largest offer (epoll's: a thread per connection stops
    // near pid_max, far below it), and one to spare.
    r.source_addresses =
        std::min<std::uint64_t>(254, config.epoll_connections / ports_per_source(fs) + 2);
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        for (std::size_t i = 0; i < config.models.size(); ++i) {
            // Rotated, so no model always runs right after the other's teardown.
            const std::string& model = config.models[(i + rep) % config.models.size()];
            env.progress(fmt::format("scale {}/{}: {}", rep + 1, config.repetitions, model));
            ScaleModelResult& m = r.models[model];
            m.runs.push_back(run_once(model, config, env, r.source_addresses));
            const ScaleRun& run = m.runs.back();
            m.connections.add(static_cast<double>(run.connections));
            m.user_kib.add(run.user_kib_per_conn);
            m.kernel_stack_kib.add(run.kernel_stack_kib_per_conn);
            m.pte_kib.add(run.pte_kib_per_conn);
            m.socket_kernel_kib.add(run.socket_kernel_kib_per_conn());
            m.other_slab_kib.add(run.other_slab_kib_per_conn());
            m.total_kib.add(run.total_kib_per_conn());
            m.open_s.add(run.open_s);
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
                 {"offer_bound", run.offer_bound},
                 {"open_s", round_to(run.open_s, 3)},
                 {"threads_added", run.threads_added},
                 {"user_kib_per_conn", round_to(run.user_kib_per_conn, 3)},
                 {"kernel_stack_kib_per_conn", round_to(run.kernel_stack_kib_per_conn, 3)},
                 {"pte_kib_per_conn", round_to(run.pte_kib_per_conn, 3)},
                 {"socket_kernel_kib_per_conn", round_to(run.socket_kernel_kib_per_conn(), 3)},
                 {"socket_kernel",
                  run.socket_kernel ? to_json(*run.socket_kernel) : nlohmann::json()},
                 {"other_slab_kib_per_conn", round_to(run.other_slab_kib_per_conn(), 3)},
                 {"total_kib_per_conn", round_to(run.total_kib_per_conn(), 3)}});
        models[model] = {{"connections", to_json(m.connections, 0)},
                         {"user_kib_per_conn", to_json(m.user_kib, 3)},
                         {"kernel_stack_kib_per_conn", to_json(m.kernel_stack_kib, 3)},
                         {"pte_kib_per_conn", to_json(m.pte_kib, 3)},
                         {"socket_kernel_kib_per_conn", to_json(m.socket_kernel_kib, 3)},
                         {"other_slab_kib_per_conn", to_json(m.other_slab_kib, 3)},
                         {"total_kib_per_conn", to_json(m.total_kib, 3)},
                         {"open_s", to_json(m.open_s, 3)},
                         {"limit", m.limit},
                         {"evidence", m.evidence},
                         {"stopped_by", m.stopped_by},
                         {"runs", runs}};
    }
    return {{"thread_stack_bytes", r.config.thread_stack},
            {"client", "hold_connections: one thread per holder process, no thread per connection"},
            {"descriptor_limit", r.descriptor_limit},
            {"descriptor_limit_how", r.descriptor_limit_how},
            {"source_addresses", r.source_addresses},
            {"memory_floor_percent", r.config.memory_floor_percent},
            {"models", models}};
}

}  // namespace tp::bench
