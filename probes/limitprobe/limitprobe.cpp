#include "limitprobe.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "child_run.hpp"
#include "connection_threads.hpp"
#include "embedded_server.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"
#include "units.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How often the child looks at the clock, the memory floor and the stop signal. Between two
// looks it adds at most this many threads: at 8 MiB stacks and ~30 KiB of real memory each,
// a few MiB, well inside any floor.
constexpr std::uint64_t kCheckEvery = 64;
// How long a child asked to stop gets to report what it reached before it is killed: it looks
// at the stop signal every kCheckEvery threads, or after waiting for its connections to settle.
constexpr auto kChildStopGrace = std::chrono::seconds(10);
// A row with every reading is a few KiB of JSON; this only guards against a runaway child.
constexpr std::size_t kMaxReportBytes = 1 << 20;

double per_thread(std::uint64_t after, std::uint64_t before, std::uint64_t threads) {
    return threads ? (static_cast<double>(after) - static_cast<double>(before)) /
                         static_cast<double>(threads)
                   : 0.0;
}

json row_json(const LimitProbeRow& r) {
    json readings = json::array();
    for (const auto& reading : r.readings) readings.push_back(to_json(reading));
    return {{"stack_bytes", r.stack_bytes},
            {"default_stack", r.default_stack},
            {"threads_reached", r.threads_reached},
            {"stopped_by", r.stopped_by},
            {"error", r.error},
            {"elapsed_s", std::round(r.elapsed_s * 1e4) / 1e4},
            {"vsz_per_thread_kib", std::round(r.vsz_per_thread_kib * 100) / 100},
            {"rss_per_thread_kib", std::round(r.rss_per_thread_kib * 100) / 100},
            {"binding_limit", r.binding_limit},
            {"evidence", r.evidence},
            {"readings", readings}};
}

LimitProbeRow row_from_json(const json& j) {
    LimitProbeRow r;
    r.stack_bytes = j.at("stack_bytes");
    r.default_stack = j.at("default_stack");
    r.threads_reached = j.at("threads_reached");
    r.stopped_by = j.at("stopped_by");
    r.error = j.at("error");
    r.elapsed_s = j.at("elapsed_s");
    r.vsz_per_thread_kib = j.at("vsz_per_thread_kib");
    r.rss_per_thread_kib = j.at("rss_per_thread_kib");
    r.binding_limit = j.at("binding_limit");
    r.evidence = j.at("evidence");
    return r;
}

// The attempt itself, in the child: spawn until something says no, then describe it.
LimitProbeRow attempt(const LimitProbeConfig& config, std::optional<std::uint64_t> stack,
                      const std::optional<Endpoint>& server, std::optional<pid_t> server_pid,
                      StopSignal& stop) {
    const ProcFs fs;
    const pid_t self = ::getpid();
    LimitProbeRow row;
    row.default_stack = !stack;
    row.stack_bytes = stack.value_or(default_thread_stack());
    const auto cost = ThreadCost::for_stack(row.stack_bytes, config.connections);
    const auto before = fs.process(self);
    const auto memory = fs.system();
    if (!memory) throw std::runtime_error("/proc/meminfo cannot be read: no memory floor to keep");
    const auto floor_kib = static_cast<std::uint64_t>(static_cast<double>(memory->mem_total_kib) *
                                                      config.mem_floor_percent / 100.0);

    ConnectionThreadConfig thread_config;
    thread_config.server = server;
    thread_config.request_n = 1;
    thread_config.stack = stack;
    ConnectionThreads threads(thread_config);
    const auto start = Clock::now();
    std::optional<Diagnosis> diagnosis;
    pid_t diagnosed_pid = self;
    while (row.stopped_by.empty()) {
        if (threads.spawned() >= config.max_threads) {
            row.stopped_by = "max reached";
            break;
        }
        if (const int rc = threads.spawn_one(); rc != 0) {
            row.stopped_by = "pthread_create failed";
            row.error = fmt::format("{} ({})", std::strerror(rc), rc);
            diagnosis = diagnose(read_limits(fs, self, cost));
            break;
        }
        if (threads.spawned() % kCheckEvery != 0) continue;
        if (server) threads.wait_settled(std::chrono::seconds(35));
        if (const FirstError e = threads.first_error(); e.failure != ConnectionFailure::none) {
            if (e.failure == ConnectionFailure::refused) {
                row.stopped_by = "refused by server";
                row.error = e.server_said;
                if (server_pid) diagnosed_pid = *server_pid;
            } else {
                row.stopped_by = fmt::format("{} failed", connection_failure_name(e.failure));
                row.error = e.error ? fmt::format("{} ({})", std::strerror(e.error), e.error)
                                    : std::string("wrong reply");
            }
            diagnosis = diagnose(read_limits(fs, diagnosed_pid, cost));
            break;
        }
        if (const auto now = fs.system(); now && now->mem_available_kib < floor_kib) {
            row.stopped_by = "memory floor";
            row.error =
                fmt::format("MemAvailable below {:.0f}% of memory", config.mem_floor_percent);
            break;
        }
        if (Clock::now() - start > config.time_limit) row.stopped_by = "time limit";
        if (stop.requested()) row.stopped_by = "interrupted";
    }
    // Every thread made has either parked (and connected) or failed before it is counted.
    threads.wait_settled(std::chrono::seconds(server ? 35 : 5));
    row.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    row.threads_reached = threads.connected();
    const auto after = fs.process(self);
    if (before && after) {
        const std::uint64_t added = after->threads - before->threads;
        row.vsz_per_thread_kib = per_thread(after->vsz_kib, before->vsz_kib, added);
        row.rss_per_thread_kib = per_thread(after->rss_kib, before->rss_kib, added);
    }
    if (diagnosis) {
        row.binding_limit = diagnosis->binding_limit;
        row.evidence = diagnosis->evidence;
        row.readings = diagnosis->readings;
    } else {
        row.binding_limit = "none";
        row.evidence = "no limit was hit: " + row.stopped_by;
    }
    return row;
}

// What is left of a row when the child died before it could report: the kernel (OOM killer)
// or a signal ended it.
LimitProbeRow child_died_row(std::optional<std::uint64_t> stack, const ChildOutcome& outcome) {
    LimitProbeRow row;
    row.stack_bytes = stack.value_or(default_thread_stack());
    row.default_stack = !stack;
    row.stopped_by = "child died";
    row.error = outcome.signal ? fmt::format("killed by signal {} ({})", outcome.signal,
                                             ::strsignal(outcome.signal))
                               : fmt::format("exited with status {}", outcome.exit_code);
    row.binding_limit = "unknown";
    row.evidence = "the child ended before reporting";
    return row;
}

// Runs `attempt` in a child and reads its row back as JSON. The child's threads die with it,
// parked or not. A stop asked of the probe reaches the child, which reports what it reached.
LimitProbeRow attempt_in_child(const LimitProbeConfig& config, std::optional<std::uint64_t> stack,
                               const std::optional<Endpoint>& server,
                               std::optional<pid_t> server_pid, StopSignal& stop) {
    ChildRunOptions options;
    options.stop = &stop;
    options.stop_grace = kChildStopGrace;
    options.crash_quietly = false;  // nothing here is meant to crash
    options.max_message_bytes = kMaxReportBytes;
    const ChildOutcome outcome = run_in_child(
        [&](const ChildChannel& channel) {
            channel.report(row_json(attempt(config, stack, server, server_pid, stop)).dump());
        },
        options);
    if (outcome.said_it_failed()) throw std::runtime_error(outcome.message);
    if (outcome.reported()) {
        const json j = json::parse(outcome.message, nullptr, false);
        if (j.is_object()) {
            LimitProbeRow row = row_from_json(j);
            for (const auto& r : j.at("readings")) {
                LimitReading reading;
                reading.name = r.at("limit");
                reading.source = r.at("source");
                reading.unit = r.at("unit");
                if (!r.at("current").is_null())
                    reading.current = r.at("current").get<std::uint64_t>();
                if (!r.at("ceiling").is_null())
                    reading.ceiling = r.at("ceiling").get<std::uint64_t>();
                reading.enforced = r.at("enforced");
                if (r.contains("note")) reading.note = r.at("note");
                row.readings.push_back(reading);
            }
            return row;
        }
    }
    return child_died_row(stack, outcome);
}

}  // namespace

int LimitProbeResult::exit_code() const {
    if (interrupted) return 130;
    return server_died ? 1 : 0;
}

LimitProbeResult run_limitprobe(const LimitProbeConfig& config, StopSignal& stop,
                                const ProgressFn& progress) {
    const ProcFs fs;
    LimitProbeResult result;
    result.config = config;
    result.context = read_machine_context(fs, ::getpid(), {8 << 20, config.connections});

    std::optional<EmbeddedServer> server;
    if (config.connections) {
        // The server's own threads are small: what is measured is the probe's side.
        std::vector<std::string> args = {"--model", "threads", "--port", "0", "--stack", "16k"};
        const std::vector<std::string> limits = measurement_server_limits(config.max_threads);
        args.insert(args.end(), limits.begin(), limits.end());
        server.emplace(EmbeddedServer::start(config.server_binary, args));
        result.server = fmt::format("{}:{} model={} pid={}", server->endpoint().host,
                                    server->endpoint().port, server->model(), server->pid());
    }
    // A server that died ends the run: every later row would measure its absence.
    auto server_gone = [&] {
        if (!server || server->alive()) return false;
        const std::string said = server->stderr_tail();
        result.server_died = server->how_it_ended() + (said.empty() ? "" : ": " + said);
        return true;
    };
    for (const auto& stack : config.stacks) {
        if (stop.requested() || server_gone()) break;
        progress(fmt::format("stack {}: spawning until something says no",
                             stack ? format_size(*stack) : "default"));
        result.rows.push_back(attempt_in_child(
            config, stack, server ? std::optional(server->endpoint()) : std::nullopt,
            server ? std::optional(server->pid()) : std::nullopt, stop));
        if (result.rows.back().stopped_by == "interrupted") break;
        // Let the server see the child's connections close before the next attempt.
        if (server) stop.wait_for(std::chrono::milliseconds(300));
    }
    if (!result.server_died) server_gone();
    result.interrupted = stop.requested();
    return result;
}

nlohmann::json to_json(const LimitProbeResult& r) {
    json rows = json::array();
    for (const auto& row : r.rows) rows.push_back(row_json(row));
    json stacks = json::array();
    for (const auto& s : r.config.stacks) stacks.push_back(s ? json(*s) : json("default"));
    return {{"tool", "limitprobe"},
            {"version", THREADPROBE_VERSION},
            {"context", to_json(r.context)},
            {"config",
             {{"stacks", stacks},
              {"connections", r.config.connections},
              {"max", r.config.max_threads},
              {"mem_floor_percent", r.config.mem_floor_percent},
              {"time_limit_s", std::chrono::duration<double>(r.config.time_limit).count()},
              {"server", r.server ? json(*r.server) : json(nullptr)}}},
            {"results", rows},
            {"interrupted", r.interrupted},
            {"server_died", r.server_died ? json(*r.server_died) : json(nullptr)}};
}

std::string to_table(const LimitProbeResult& r) {
    std::string out =
        fmt::format("limitprobe {}: threads until something says no{}\n", THREADPROBE_VERSION,
                    r.config.connections ? ", each holding a connection" : "");
    if (r.server) out += fmt::format("server:  {}\n", *r.server);
    out += fmt::format("machine: {}\n         {}, glibc {}\n\n", r.context.topology.summary(),
                       r.context.kernel, r.context.glibc);
    out += fmt::format("{:<16} {:>9} {:>9} {:>12} {:>12}  {:<24} {}\n", "stack", "threads", "time",
                       "VSZ/thread", "RSS/thread", "stopped by", "binding limit");
    for (const auto& row : r.rows) {
        out += fmt::format("{:<16} {:>9} {:>8.2f}s {:>12} {:>12}  {:<24} {}\n",
                           format_size(row.stack_bytes) + (row.default_stack ? " (default)" : ""),
                           row.threads_reached, row.elapsed_s, format_kib(row.vsz_per_thread_kib),
                           format_kib(row.rss_per_thread_kib), row.stopped_by, row.binding_limit);
    }
    out += "\n";
    for (const auto& row : r.rows)
        if (!row.error.empty() || row.binding_limit != "none")
            out += fmt::format("{}: {}{}\n", format_size(row.stack_bytes),
                               row.error.empty() ? "" : row.error + "; ", row.evidence);
    if (r.interrupted) out += "interrupted: rows cover the stack sizes finished before the stop\n";
    if (r.server_died)
        out += fmt::format("the server died mid-run ({}): rows stop there\n", *r.server_died);
    return out;
}

}  // namespace tp
