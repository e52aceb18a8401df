#include "limitprobe.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "child_run.hpp"
#include "connection_ramp.hpp"
#include "embedded_server.hpp"
#include "json_fields.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"
#include "units.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// How long a child asked to stop gets to report what it reached before it is killed: its ramp
// looks at the stop signal every batch of threads, after waiting for the batch to settle.
constexpr auto kChildStopGrace = std::chrono::seconds(10);
// What a row says of a child that ended before it could report.
constexpr const char* kChildDied = "child died";
// A row with every reading is a few KiB of JSON; this only guards against a runaway child.
constexpr std::size_t kMaxReportBytes = 1 << 20;

// In the table: a figure, or why there is none.
std::string kib_or_not_measured(const std::optional<double>& kib) {
    return kib ? format_kib(*kib) : "not measured";
}

// What one more thread added, on average; nullopt where a reading is missing or no thread was
// added, so that nothing stands in for a figure that was not measured.
std::optional<double> per_thread(const std::optional<ProcessMemory>& before,
                                 const std::optional<ProcessMemory>& after,
                                 std::uint64_t ProcessMemory::*field) {
    if (!before || !after || after->threads <= before->threads) return std::nullopt;
    return (static_cast<double>((*after).*field) - static_cast<double>((*before).*field)) /
           static_cast<double>(after->threads - before->threads);
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
    const auto before = fs.process(self);

    ConnectionThreadConfig thread_config;
    thread_config.server = server;
    thread_config.request_n = 1;
    thread_config.stack = stack;
    RampConfig ramp_config;
    ramp_config.target = config.max_threads;
    ramp_config.cost = ThreadCost::for_stack(row.stack_bytes, config.connections);
    ramp_config.server_pid = server_pid;
    ramp_config.memory_floor_percent = config.mem_floor_percent;
    ramp_config.time_limit = config.time_limit;
    // Every thread made has either parked (and connected) or failed before it is counted.
    ramp_config.settle_timeout = std::chrono::seconds(server ? 35 : 5);
    ramp_config.settle_each_batch = server.has_value();
    ConnectionRamp ramp(fs, thread_config, ramp_config);
    // The parent watches the server between attempts; progress is the parent's to show.
    const RampResult result = ramp.run(
        stop, [] { return true; }, [](std::string_view) {});

    row.stopped_by = result.outcome();
    row.error = result.error;
    row.elapsed_s = result.spawn_s;
    row.threads_reached = ramp.threads().connected();
    const auto after = fs.process(self);
    row.vsz_per_thread_kib = per_thread(before, after, &ProcessMemory::vsz_kib);
    row.rss_per_thread_kib = per_thread(before, after, &ProcessMemory::rss_kib);
    if (result.diagnosis) {
        row.diagnosis = *result.diagnosis;
    } else {
        row.diagnosis.binding_limit = "none";
        row.diagnosis.evidence = std::string("no limit was hit: ") + stopped_by_label(row);
    }
    return row;
}

// What is left of a row when the child died before it could report: the kernel (OOM killer)
// or a signal ended it.
LimitProbeRow child_died_row(std::optional<std::uint64_t> stack, const ChildOutcome& outcome) {
    LimitProbeRow row;
    row.stack_bytes = stack.value_or(default_thread_stack());
    row.default_stack = !stack;
    row.stopped_by = std::nullopt;
    row.error = outcome.signal ? fmt::format("killed by signal {} ({})", outcome.signal,
                                             ::strsignal(outcome.signal))
                               : fmt::format("exited with status {}", outcome.exit_code);
    row.diagnosis.binding_limit = "unknown";
    row.diagnosis.evidence = "the child ended before reporting";
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
            channel.report(to_json(attempt(config, stack, server, server_pid, stop)).dump());
        },
        options);
    if (outcome.said_it_failed()) throw std::runtime_error(outcome.message);
    if (outcome.reported()) {
        const json j = json::parse(outcome.message, nullptr, false);
        if (j.is_object()) return j.get<LimitProbeRow>();
    }
    return child_died_row(stack, outcome);
}

}  // namespace

const char* stopped_by_label(const LimitProbeRow& row) {
    return row.stopped_by ? ramp_stop_label(*row.stopped_by) : kChildDied;
}

json to_json(const LimitProbeRow& r) {
    json j = to_json(r.diagnosis);
    j["stack_bytes"] = r.stack_bytes;
    j["default_stack"] = r.default_stack;
    j["threads_reached"] = r.threads_reached;
    j["stopped_by"] = stopped_by_label(r);
    j["error"] = r.error;
    j["elapsed_s"] = rounded(r.elapsed_s, 1e4);
    j["vsz_per_thread_kib"] =
        r.vsz_per_thread_kib ? json(rounded(*r.vsz_per_thread_kib, 100)) : json(nullptr);
    j["rss_per_thread_kib"] =
        r.rss_per_thread_kib ? json(rounded(*r.rss_per_thread_kib, 100)) : json(nullptr);
    return j;
}

void from_json(const json& j, LimitProbeRow& r) {
    r.stack_bytes = j.at("stack_bytes");
    r.default_stack = j.at("default_stack");
    r.threads_reached = j.at("threads_reached");
    const std::string stopped_by = j.at("stopped_by");
    r.stopped_by = ramp_stop_from_label(stopped_by);
    if (!r.stopped_by && stopped_by != kChildDied)
        throw std::invalid_argument("stopped_by: '" + stopped_by + "' names no stop");
    r.error = j.at("error");
    r.elapsed_s = j.at("elapsed_s");
    r.vsz_per_thread_kib = optional_from_json<double>(j.at("vsz_per_thread_kib"));
    r.rss_per_thread_kib = optional_from_json<double>(j.at("rss_per_thread_kib"));
    r.diagnosis = j.get<Diagnosis>();
}

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
        server.emplace(EmbeddedServer::start(FibserverLaunch{.binary = config.server_binary,
                                                             .stack = 16 * 1024,
                                                             .connections = config.max_threads}));
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
        if (result.rows.back().stopped_by == RampStop::interrupted) break;
        // Let the server see the child's connections close before the next attempt.
        if (server) stop.wait_for(std::chrono::milliseconds(300));
    }
    if (!result.server_died) server_gone();
    result.interrupted = stop.requested();
    return result;
}

nlohmann::json to_json(const LimitProbeResult& r) {
    json rows = json::array();
    for (const auto& row : r.rows) rows.push_back(to_json(row));
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
                           row.threads_reached, row.elapsed_s,
                           kib_or_not_measured(row.vsz_per_thread_kib),
                           kib_or_not_measured(row.rss_per_thread_kib), stopped_by_label(row),
                           row.diagnosis.binding_limit);
    }
    out += "\n";
    for (const auto& row : r.rows)
        if (!row.error.empty() || row.diagnosis.binding_limit != "none")
            out += fmt::format("{}: {}{}\n", format_size(row.stack_bytes),
                               row.error.empty() ? "" : row.error + "; ", row.diagnosis.evidence);
    if (r.interrupted) out += "interrupted: rows cover the stack sizes finished before the stop\n";
    if (r.server_died)
        out += fmt::format("the server died mid-run ({}): rows stop there\n", *r.server_died);
    return out;
}

}  // namespace tp
