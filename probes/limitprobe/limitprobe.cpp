#include "limitprobe.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
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

// The attempt itself, in the child: spawn until something says no, then describe it.
LimitProbeRow attempt(const LimitProbeConfig& config, std::optional<std::uint64_t> stack,
                      const std::optional<Endpoint>& server, std::optional<pid_t> server_pid,
                      StopSignal& stop) {
    const ProcFs fs;
    const pid_t self = ::getpid();
    LimitProbeRow row;
    row.default_stack = !stack;
    row.stack_bytes = stack.value_or(default_thread_stack());
    // Every task the search adds is this process's or its server's thread.
    const auto owners = task_owners(self, server.has_value(), server_pid);
    const CostSnapshot before = take_cost_snapshot(fs, self, owners);
    if (before.process) row.threads_at_start = before.process->threads;

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
    ramp_config.margin = config.margin;
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
    const CostSnapshot after = take_cost_snapshot(fs, self, owners);
    // What one more thread added, on average; not measured where a reading is missing or no
    // thread was added, so that nothing stands in for a figure that was not measured.
    ThreadCostSample cost = cost_between(before, after);
    if (cost.threads > 0) {
        row.vsz_per_thread_kib = cost.vsz_kib;
        row.rss_per_thread_kib = cost.rss_kib;
    }
    if (row.stopped_by == RampStop::safety_margin && after.process) {
        // The rest of the way, priced at what the threads made so far cost.
        cost.stack_bytes = row.stack_bytes;
        cost.default_stack = row.default_stack;
        cost.holds_connection = config.connections;
        row.forecast_at_stop =
            forecast_threads(read_limits(fs, self, ramp_config.cost), cost, after.process->threads);
    }
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

// The forecast for one stack size; limitprobe's own RLIMIT_NOFILE less the descriptors it keeps.
StackForecast forecast_one(const LimitProbeConfig& config, std::optional<std::uint64_t> stack,
                           const EmbeddedServer* server, pid_t pid) {
    ForecastRequest request;
    request.stack = stack;
    if (server) {
        request.server = server->endpoint();
        request.server_pid = server->pid();
    }
    request.sample_threads = config.sample_threads;
    if (pid == ::getpid() && config.connections) request.descriptors_kept = kDescriptorReserve;
    return forecast_process(ProcFs{}, pid, request);
}

std::string process_name(const ProcFs& fs, pid_t pid) {
    auto comm = read_small_file(fs.paths().proc / std::to_string(pid) / "comm").value_or("?");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

// "1 task, 2 mappings, 68 KiB virtual, 64 KiB commit, 8 KiB resident, 16 KiB kernel stack"
std::string describe_cost(const ThreadCostSample& c) {
    if (c.threads == 0) return "not measured (no room for a sample)";
    std::string out = fmt::format(
        "{} task{}, {:.2g} mappings, {} virtual, {} commit, {} resident, {} kernel stack", c.tasks,
        c.tasks == 1 ? "" : "s", c.mappings, format_kib(c.vsz_kib), format_kib(c.commit_kib),
        format_kib(c.rss_kib), format_kib(c.kernel_stack_kib));
    if (c.holds_connection) out += fmt::format(", {:.2g} descriptors", c.descriptors);
    return out + fmt::format(" (sample of {})", c.threads);
}

std::string headroom_text(const LimitReading& r) {
    const auto room = r.headroom_threads();
    if (!r.ceiling) return "unlimited";
    if (!room) return "-";
    return fmt::format("{:.0f}", std::max(0.0, *room));
}

std::string forecast_table(const LimitProbeResult& r) {
    std::string out;
    for (const auto& f : r.forecast) {
        out += fmt::format("\nstack {}{}: ", format_size(f.cost.stack_bytes),
                           f.cost.default_stack ? " (default)" : "");
        if (f.threads)
            out += fmt::format("at most {} threads ({} more), bound by {}\n", *f.threads,
                               *f.threads - f.current_threads, f.binding_limit);
        else
            out += "no enforced limit has a ceiling\n";
        out += fmt::format("  per thread: {}\n  guard: {}\n", describe_cost(f.cost),
                           f.cost.guard_layout());
        out += fmt::format("  {:<17} {:>14} {:>14} {:>12} {:>12} {:>9}\n", "limit", "current",
                           "ceiling", "per thread", "headroom", "enforced");
        for (const auto& l : f.limits) {
            const std::string mark = l.name == f.binding_limit ? "*" : " ";
            out += fmt::format("{} {:<17} {:>14} {:>14} {:>12} {:>12} {:>9}\n", mark, l.name,
                               l.current ? fmt::format("{} {}", *l.current, l.unit) : "?",
                               l.ceiling ? std::to_string(*l.ceiling) : "unlimited",
                               fmt::format("{:.4g}", l.cost_per_thread), headroom_text(l),
                               l.enforced ? "yes" : "no");
        }
        if (const auto* b = f.binding(); b && !b->knob.empty())
            out += fmt::format("  to move {}: {}\n", b->name, b->knob);
        for (const auto& l : f.limits)
            if (l.name == "memory cgroup" && l.headroom_threads())
                out += fmt::format(
                    "  memory cgroup: {:.0f} more threads at {} resident + {} kernel stack each "
                    "before the OOM killer\n",
                    std::max(0.0, *l.headroom_threads()), format_kib(f.cost.rss_kib),
                    format_kib(f.cost.kernel_stack_kib));
    }
    return out;
}

}  // namespace

const StackForecast* forecast_for(const std::vector<StackForecast>& forecast,
                                  const LimitProbeRow& row) {
    for (const auto& f : forecast)
        if (f.cost.stack_bytes == row.stack_bytes && f.cost.default_stack == row.default_stack)
            return &f;
    return nullptr;
}

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
    j["threads_at_start"] = r.threads_at_start;
    j["forecast_at_stop"] = r.forecast_at_stop ? to_json(*r.forecast_at_stop) : json(nullptr);
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
    r.threads_at_start = j.at("threads_at_start");
    if (!j.at("forecast_at_stop").is_null())
        r.forecast_at_stop = j.at("forecast_at_stop").get<StackForecast>();
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
    result.forecast_pid = config.pid.value_or(::getpid());
    if (!fs.process(result.forecast_pid))
        throw std::runtime_error(
            fmt::format("pid {}: no such process, or /proc/{}/status cannot be read",
                        result.forecast_pid, result.forecast_pid));
    result.forecast_process = process_name(fs, result.forecast_pid);
    for (const auto& stack : config.stacks) {
        if (stop.requested() || server_gone()) break;
        progress(fmt::format("stack {}: forecast from a sample of {} threads",
                             stack ? format_size(*stack) : "default", config.sample_threads));
        result.forecast.push_back(
            forecast_one(config, stack, server ? &*server : nullptr, result.forecast_pid));
    }
    for (const auto& stack : config.stacks) {
        if (config.forecast_only || stop.requested() || server_gone()) break;
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

namespace {

// Whether a search's row bears its forecast out; nullopt where the row cannot say.
std::optional<bool> forecast_confirmed(const StackForecast* f, const LimitProbeRow& row) {
    if (!f || !f->threads) return std::nullopt;
    // At the margin: the rest of the way, priced at the costs the search measured.
    if (row.forecast_at_stop) {
        if (!row.forecast_at_stop->threads) return std::nullopt;
        return row.forecast_at_stop->binding_limit == f->binding_limit &&
               forecasts_agree(*f->threads, *row.forecast_at_stop->threads);
    }
    // Stopped by the cap, the time limit or a stop, or by a limit it could not name.
    const std::string& met = row.diagnosis.binding_limit;
    if (met == "none" || met == "unknown") return std::nullopt;
    // At a limit reached for real: the same limit, as many threads.
    return met == f->binding_limit && forecasts_agree(*f->threads, row.process_threads());
}

}  // namespace

nlohmann::json to_json(const LimitProbeResult& r) {
    json rows = json::array();
    for (const auto& row : r.rows) {
        json j = to_json(row);
        const StackForecast* f = forecast_for(r.forecast, row);
        j["forecast_threads"] = f ? optional_json(f->threads) : json(nullptr);
        j["forecast_binding_limit"] = f ? json(f->binding_limit) : json(nullptr);
        const auto confirmed = forecast_confirmed(f, row);
        j["forecast_confirmed"] = confirmed ? json(*confirmed) : json(nullptr);
        rows.push_back(std::move(j));
    }
    json forecast = json::array();
    for (const auto& f : r.forecast) forecast.push_back(to_json(f));
    json stacks = json::array();
    for (const auto& s : r.config.stacks) stacks.push_back(s ? json(*s) : json("default"));
    return {{"tool", "limitprobe"},
            {"version", THREADPROBE_VERSION},
            {"context", to_json(r.context)},
            {"config",
             {{"stacks", stacks},
              {"connections", r.config.connections},
              {"forecast_only", r.config.forecast_only},
              {"pid", r.forecast_pid},
              {"process", r.forecast_process},
              {"sample_threads", r.config.sample_threads},
              {"max", r.config.max_threads},
              {"mem_floor_percent", r.config.mem_floor_percent},
              {"margin", to_json(r.config.margin)},
              {"time_limit_s", std::chrono::duration<double>(r.config.time_limit).count()},
              {"server", r.server ? json(*r.server) : json(nullptr)}}},
            {"forecast", forecast},
            {"results", rows},
            {"interrupted", r.interrupted},
            {"server_died", r.server_died ? json(*r.server_died) : json(nullptr)}};
}

std::string to_table(const LimitProbeResult& r) {
    std::string out =
        fmt::format("limitprobe {}: {}{}\n", THREADPROBE_VERSION,
                    r.config.forecast_only ? "forecast from a sample"
                                           : "forecast, then threads until something says no",
                    r.config.connections ? ", each thread holding a connection" : "");
    if (r.server) out += fmt::format("server:  {}\n", *r.server);
    out += fmt::format("machine: {}\n         {}, glibc {}\n", r.context.topology.summary(),
                       r.context.kernel, r.context.glibc);
    out += fmt::format("process: {} ({}){}\n", r.forecast_pid, r.forecast_process,
                       r.config.pid ? "" : ", this limitprobe");
    out += forecast_table(r);
    if (r.config.forecast_only) return out;
    out += fmt::format("\nsearch: {}\n",
                       r.config.margin.evidence.empty()
                           ? "to the limit (--to-the-limit)"
                           : "stops at the safety margin: " + r.config.margin.evidence);
    out +=
        fmt::format("{:<16} {:>9} {:>9} {:>12} {:>12}  {:<22} {:<18} {}\n", "stack", "threads",
                    "time", "VSZ/thread", "RSS/thread", "stopped by", "binding limit", "forecast");
    for (const auto& row : r.rows) {
        const StackForecast* f = forecast_for(r.forecast, row);
        const auto confirmed = forecast_confirmed(f, row);
        const std::string forecast =
            f && f->threads
                ? fmt::format("{}{}", *f->threads,
                              confirmed ? (*confirmed ? " (agrees)" : " (differs)") : "")
                : "-";
        out += fmt::format("{:<16} {:>9} {:>8.2f}s {:>12} {:>12}  {:<22} {:<18} {}\n",
                           format_size(row.stack_bytes) + (row.default_stack ? " (default)" : ""),
                           row.threads_reached, row.elapsed_s,
                           kib_or_not_measured(row.vsz_per_thread_kib),
                           kib_or_not_measured(row.rss_per_thread_kib), stopped_by_label(row),
                           row.diagnosis.binding_limit, forecast);
    }
    out += "\n";
    for (const auto& row : r.rows) {
        if (!row.error.empty() || row.diagnosis.binding_limit != "none")
            out += fmt::format("{}: {}{}\n", format_size(row.stack_bytes),
                               row.error.empty() ? "" : row.error + "; ", row.diagnosis.evidence);
        if (row.forecast_at_stop && row.forecast_at_stop->threads)
            out +=
                fmt::format("{}: at the margin, the costs measured so far put {} at {} threads\n",
                            format_size(row.stack_bytes), row.forecast_at_stop->binding_limit,
                            *row.forecast_at_stop->threads);
    }
    if (r.interrupted) out += "interrupted: rows cover the stack sizes finished before the stop\n";
    if (r.server_died)
        out += fmt::format("the server died mid-run ({}): rows stop there\n", *r.server_died);
    return out;
}

}  // namespace tp
