#include "probe_results.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "statistics.hpp"

namespace tp::report {
namespace {

SideMemory read_side(const Results& r, const std::string& name, const std::string& side) {
    const std::string s = "/summary/" + side;
    SideMemory m;
    m.baseline_vsz_kib = r.number(name, s + "/baseline/vsz_kib");
    m.baseline_rss_kib = r.number(name, s + "/baseline/rss_kib");
    m.baseline_pte_kib = r.number(name, s + "/baseline/pte_kib");
    m.plateau_vsz_kib = r.number(name, s + "/plateau/vsz_kib");
    m.plateau_rss_kib = r.number(name, s + "/plateau/rss_kib");
    m.plateau_pte_kib = r.number(name, s + "/plateau/pte_kib");
    m.threads_added = r.number(name, s + "/threads_added");
    m.vsz_per_thread_kib = r.number(name, s + "/vsz_per_thread_kib");
    m.rss_per_thread_kib = r.number(name, s + "/rss_per_thread_kib");
    m.pte_per_thread_kib = r.number(name, s + "/pte_per_thread_kib");
    return m;
}

}  // namespace

const std::vector<std::string>& article_models() {
    static const std::vector<std::string> models = {"iterative", "threads", "gil",  "pool",
                                                    "threshold", "prefork", "epoll"};
    return models;
}

bool has_experiment(const Results& r, const std::string& name) {
    return r.has(name) || !r.names_starting_with(name + ".r").empty();
}

bool perf1_measured(const Results& r, const std::string& model) {
    return has_experiment(r, fmt::format("latency-{}-1", model)) &&
           has_experiment(r, fmt::format("latency-{}-2", model));
}

bool perf2_measured(const Results& r, const std::string& model) {
    return has_experiment(r, "rate-" + model);
}

namespace {
constexpr std::string_view kCpythonPrefix = "python-";
}

std::string cpython_model(const std::string& model) {
    return std::string(kCpythonPrefix) + model;
}

bool is_cpython_model(const std::string& name) {
    return name.starts_with(kCpythonPrefix);
}

std::vector<std::string> measured_cpython_models(const Results& r) {
    std::vector<std::string> out;
    for (const std::string model : {"iterative", "threads", "pool", "threshold", "prefork"}) {
        const std::string name = cpython_model(model);
        if (perf2_measured(r, name) || has_experiment(r, "latency-" + name + "-1"))
            out.push_back(name);
    }
    return out;
}

std::string model_display_name(const std::string& model) {
    return is_cpython_model(model) ? "CPython " + model.substr(kCpythonPrefix.size()) : model;
}

std::string stack_label(std::uint64_t stack_bytes, bool default_stack) {
    const std::string size = stack_bytes % (1024 * 1024) == 0
                                 ? fmt::format("{} MiB", stack_bytes / (1024 * 1024))
                                 : fmt::format("{} KiB", stack_bytes / 1024);
    return default_stack ? size + " (default)" : size;
}

ThreadRun read_thread_run(const Results& r, const std::string& name) {
    ThreadRun run;
    run.name = name;
    run.stack_bytes = static_cast<std::uint64_t>(r.number(name, "/config/stack_bytes"));
    run.default_stack = r.at(name, "/config/stack").is_string();
    run.connections = r.number(name, "/summary/connections");
    run.threads_requested = r.number(name, "/summary/threads_requested");
    if (!r.at(name, "/summary/failure").is_null()) {
        run.stopped_by = r.text(name, "/summary/failure/binding_limit");
        if (run.stopped_by == "unknown") run.stopped_by = r.text(name, "/summary/failure/error");
    }
    run.probe = read_side(r, name, "probe");
    run.server = read_side(r, name, "server");
    run.kernel_stack_per_task_kib = r.number(name, "/summary/system/kernel_stack_per_task_kib");
    run.commit_per_task_kib = r.number(name, "/summary/system/commit_per_task_kib");
    run.other_activity = r.flag(name, "/summary/system/other_activity");
    return run;
}

std::vector<ThreadRun> read_sweep(const Results& r) {
    std::vector<ThreadRun> sweep;
    for (const auto& name : r.names_starting_with("threadprobe-"))
        sweep.push_back(read_thread_run(r, name));
    if (sweep.empty())
        throw ResultsError(fmt::format("{}: no threadprobe-*.json results", r.origin()));
    std::sort(sweep.begin(), sweep.end(), [](const ThreadRun& a, const ThreadRun& b) {
        return std::tie(a.stack_bytes, a.connections) < std::tie(b.stack_bytes, b.connections);
    });
    return sweep;
}

std::vector<ThreadRun> largest_per_stack(const std::vector<ThreadRun>& sweep) {
    std::vector<ThreadRun> largest;
    for (const auto& run : sweep) {
        if (!largest.empty() && largest.back().stack_bytes == run.stack_bytes)
            largest.back() = run;  // sorted by connections within a stack
        else
            largest.push_back(run);
    }
    return largest;
}

ThreadRun sweep_run(const Results& r, const std::string& stack, int connections) {
    return read_thread_run(r, fmt::format("threadprobe-{}-{}", stack, connections));
}

ScaleRun read_scale(const Results& r, const std::string& model) {
    const std::string name = "scale-" + model;
    const ThreadRun run = read_thread_run(r, name);
    ScaleRun s;
    s.model = model;
    s.connections = run.connections;
    s.server_threads_added = run.server.threads_added;
    if (run.connections <= 0)
        throw ResultsError(fmt::format("{}/{}.json: no connection was up", r.origin(), name));
    // Whole-process growth over connections: right for one event-loop thread and for a
    // thread per connection alike.
    s.user_kib_per_connection = (run.server.plateau_rss_kib - run.server.baseline_rss_kib +
                                 run.server.plateau_pte_kib - run.server.baseline_pte_kib) /
                                run.connections;
    s.kernel_stack_kib_per_connection =
        run.kernel_stack_per_task_kib * run.server.threads_added / run.connections;
    if (r.at(name, "/summary/system").contains("socket_kernel")) {
        s.socket_kernel_kib_per_connection =
            r.number_or_null(name, "/summary/system/socket_kernel_kib_per_end");
        if (s.socket_kernel_kib_per_connection)
            s.socket_kernel_source = r.text(name, "/summary/system/socket_kernel/source");
    }
    return s;
}

std::vector<std::string> repetitions(const Results& r, const std::string& name) {
    if (r.has(name)) return {name};
    std::vector<std::pair<int, std::string>> numbered;
    for (const auto& candidate : r.names_starting_with(name + ".r")) {
        const std::string number = candidate.substr(name.size() + 2);
        if (number.empty() ||
            !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        numbered.emplace_back(std::stoi(number), candidate);
    }
    std::sort(numbered.begin(), numbered.end());
    std::vector<std::string> out;
    for (auto& [number, candidate] : numbered) out.push_back(std::move(candidate));
    if (out.empty())
        throw ResultsError(
            fmt::format("{}/{}.json: missing (nor any {}.rK.json)", r.origin(), name, name));
    return out;
}

namespace {

// The load the probe recorded while it ran; results from before it recorded one have none.
std::optional<double> other_cores(const Results& r, const std::string& name) {
    const nlohmann::json& doc = r.document(name);
    if (!doc.contains("load")) return std::nullopt;
    return r.number(name, "/load/other_cores");
}

LatencyRun read_latency_file(const Results& r, const std::string& name, const std::string& model,
                             int clients) {
    LatencyRun run;
    run.name = name;
    run.model = model;
    run.clients = clients;
    run.n = r.number(name, "/config/n");
    const auto& per_client = r.at(name, "/summary/clients");
    for (std::size_t i = 0; i < per_client.size(); ++i)
        run.latencies_ms.push_back(
            r.numbers(name, fmt::format("/summary/clients/{}/latencies_ms", i)));
    if (static_cast<int>(run.latencies_ms.size()) != clients)
        throw ResultsError(fmt::format("{}/{}.json: /summary/clients has {} clients, not {}",
                                       r.origin(), name, run.latencies_ms.size(), clients));
    // Each client's first request warms up the connection, the server's thread and the
    // caches: the median is of the requests after it, where a client made more than one.
    std::vector<double> warm;
    run.faster_client_p50_ms = INFINITY;
    for (const auto& client : run.latencies_ms) {
        const std::vector<double> mine(client.begin() + (client.size() > 1 ? 1 : 0), client.end());
        if (!mine.empty())
            run.faster_client_p50_ms = std::min(run.faster_client_p50_ms, median(mine));
        warm.insert(warm.end(), mine.begin(), mine.end());
    }
    run.p50_ms = warm.empty() ? r.number(name, "/summary/overall/p50_ms") : median(warm);
    if (std::isinf(run.faster_client_p50_ms)) run.faster_client_p50_ms = run.p50_ms;
    run.other_cores = other_cores(r, name);
    run.speed = read_speed_checks(r, name);
    const nlohmann::json& doc = r.document(name);
    if (doc.contains("parallelism") && !doc["parallelism"].is_null())
        run.parallel_speedup = r.number(name, "/parallelism/speedup");
    for (const char* key : {"/parallelism", "/parallelism_after"})
        if (doc.contains(key + 1) && !doc[key + 1].is_null())
            run.parallel_checks.push_back({r.number(name, std::string(key) + "/threads"),
                                           r.number(name, std::string(key) + "/one_ms"),
                                           r.number(name, std::string(key) + "/together_ms")});
    return run;
}

}  // namespace

SpeedChecks read_speed_checks(const Results& r, const std::string& name) {
    SpeedChecks checks;
    const nlohmann::json& doc = r.document(name);
    if (!doc.contains("speed_checks")) return checks;
    const nlohmann::json::json_pointer pinned_at("/config/placement/pu");
    const nlohmann::json pinned = doc.contains(pinned_at) ? doc.at(pinned_at) : nlohmann::json();
    for (const char* when : {"before", "after"}) {
        const std::string at = fmt::format("/speed_checks/{}", when);
        if (r.at(name, at).is_null()) continue;  // an interrupted run has no "after"
        const auto pus = r.at(name, at + "/pus").size();
        for (std::size_t i = 0; i < pus; ++i) {
            const std::string pu = fmt::format("{}/pus/{}", at, i);
            if (pinned.is_string() && r.text(name, pu + "/pu") != pinned.get<std::string>())
                continue;
            checks.fib_ms.push_back(r.number(name, pu + "/fib_ms"));
        }
    }
    return checks;
}

double SpeedChecks::slowest_ms() const {
    return fib_ms.empty() ? 0 : *std::max_element(fib_ms.begin(), fib_ms.end());
}

HostSpeed::HostSpeed(const Results& r) {
    for (const char* kind : {"latency-", "rate-"})
        for (const auto& name : r.names_starting_with(kind))
            for (double ms : read_speed_checks(r, name).fib_ms)
                full_ms_ = std::min(full_ms_.value_or(ms), ms);
}

double HostSpeed::share(const SpeedChecks& checks) const {
    if (!full_ms_ || checks.fib_ms.empty()) return 1;
    return *full_ms_ / checks.slowest_ms();
}

std::vector<LatencyRun> read_latency_runs(const Results& r, const std::string& model, int clients) {
    std::vector<LatencyRun> runs;
    for (const auto& name : repetitions(r, fmt::format("latency-{}-{}", model, clients)))
        runs.push_back(read_latency_file(r, name, model, clients));
    return runs;
}

LatencyRun read_latency(const Results& r, const std::string& model, int clients) {
    return read_latency_runs(r, model, clients).front();
}

Serialisation read_serialisation(const LatencyRun& run) {
    Serialisation s;
    if (run.latencies_ms.size() < 2 || run.latencies_ms[0].empty() || run.latencies_ms[1].empty())
        return s;
    // The client whose first reply came back sooner was served first.
    const bool first_is_0 = run.latencies_ms[0].front() <= run.latencies_ms[1].front();
    const auto& first = run.latencies_ms[first_is_0 ? 0 : 1];
    const auto& second = run.latencies_ms[first_is_0 ? 1 : 0];
    s.second_first_reply_ms = second.front();
    for (double ms : first) s.first_session_ms += ms;
    return s;
}

namespace {

RateRun read_rate_file(const Results& r, const std::string& name, const std::string& model) {
    RateRun run;
    run.name = name;
    run.model = model;
    run.other_cores = other_cores(r, name);
    run.speed = read_speed_checks(r, name);
    run.interfere_n = r.number(name, "/config/interfere/n");
    run.duration_s = r.number(name, "/config/duration_s");
    run.baseline_rps = r.number(name, "/summary/baseline_rps");
    run.during_rps = r.number_or_null(name, "/summary/during_rps");
    run.drop_percent = r.number_or_null(name, "/summary/drop_percent");
    run.window_start_s = r.number(name, "/summary/interference_start_s");
    run.window_end_s = r.number_or_null(name, "/summary/interference_end_s");
    const auto& readings = r.at(name, "/summary/readings");
    for (std::size_t i = 1; i < readings.size(); ++i) {
        const std::string at = fmt::format("/summary/readings/{}", i);
        const std::string before = fmt::format("/summary/readings/{}", i - 1);
        const double dt = r.number(name, at + "/t_s") - r.number(name, before + "/t_s");
        if (dt <= 0) continue;
        run.timeline.push_back(
            {r.number(name, at + "/t_s"),
             (r.number(name, at + "/answered") - r.number(name, before + "/answered")) / dt});
    }
    return run;
}

}  // namespace

std::vector<RateRun> read_rate_runs(const Results& r, const std::string& model) {
    std::vector<RateRun> runs;
    for (const auto& name : repetitions(r, "rate-" + model))
        runs.push_back(read_rate_file(r, name, model));
    return runs;
}

RateRun read_rate(const Results& r, const std::string& model) {
    return read_rate_runs(r, model).front();
}

namespace {

// rateprobe's summary.interrupt: {stop_s, remaining_s}, both empty where it has none.
std::pair<std::optional<double>, std::optional<double>> sigint_stop(const Results& r,
                                                                    const std::string& name) {
    const nlohmann::json& summary = r.at(name, "/summary");
    if (!summary.contains("interrupt") || summary.at("interrupt").is_null()) return {};
    return {r.number_or_null(name, "/summary/interrupt/stop_s"),
            r.number(name, "/summary/interrupt/request_s") -
                r.number(name, "/summary/interrupt/sent_after_s")};
}

}  // namespace

std::optional<UninterruptibleRun> read_uninterruptible(const Results& r, const std::string& model) {
    const std::string name = "spam-" + model;
    if (!r.has(name)) return std::nullopt;
    UninterruptibleRun run;
    run.name = name;
    run.other_cores = other_cores(r, name);
    run.spam = r.number(name, "/config/interfere/spam");
    run.baseline_rps = r.number(name, "/summary/baseline_rps");
    run.during_rps = r.number_or_null(name, "/summary/during_rps");
    std::tie(run.sigint_stop_s, run.sigint_remaining_s) = sigint_stop(r, name);
    return run;
}

std::vector<double> read_fib_sigint_stops(const Results& r, const std::string& model) {
    std::vector<double> out;
    for (const auto& name : repetitions(r, "rate-" + model))
        if (const auto stop = sigint_stop(r, name).first) out.push_back(*stop);
    return out;
}

std::vector<StackDepth> read_stack_depths(const Results& r) {
    std::vector<StackDepth> depths;
    const auto& rows = r.at("stackprobe", "/results");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::string at = fmt::format("/results/{}", i);
        StackDepth d;
        d.label = r.text("stackprobe", at + "/requested");
        d.stack_bytes = static_cast<std::uint64_t>(r.number("stackprobe", at + "/stack_bytes"));
        d.depth = r.number("stackprobe", at + "/max_depth");
        d.frame_bytes = r.number("stackprobe", at + "/frame_bytes");
        d.usable_ratio = r.number("stackprobe", at + "/usable_ratio");
        d.above_first_frame_bytes = r.number("stackprobe", at + "/above_first_frame_bytes");
        d.descriptor_bytes = r.number("stackprobe", at + "/descriptor_bytes");
        d.ended_by = r.text("stackprobe", at + "/ended_by");
        depths.push_back(d);
    }
    if (depths.empty())
        throw ResultsError(fmt::format("{}/stackprobe.json: /results is empty", r.origin()));
    return depths;
}

std::optional<PythonStacks> read_python_stacks(const Results& r) {
    constexpr const char* kName = "python-stacks";
    if (!r.has(kName)) return std::nullopt;
    PythonStacks p;
    p.version = r.text(kName, "/python/version");
    p.recursion_limit = r.number(kName, "/recursion_limit");
    const auto& rows = r.at(kName, "/stacks");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::string at = fmt::format("/stacks/{}", i);
        PythonStack s;
        s.stack_bytes = r.number(kName, at + "/stack_bytes");
        s.default_stack = r.flag(kName, at + "/default");
        s.thread_vsz_kib = r.number_or_null(kName, at + "/thread_vsz_kib");
        for (auto [kind, depth] : {std::pair{"python", &s.python}, {"through_c", &s.through_c}}) {
            depth->depth = r.number(kName, fmt::format("{}/{}/depth", at, kind));
            depth->stopped_by = r.text(kName, fmt::format("{}/{}/stopped_by", at, kind));
        }
        p.stacks.push_back(s);
    }
    if (p.stacks.empty() || !p.stacks.front().default_stack)
        throw ResultsError(fmt::format("{}/{}.json: /stacks must start with the default stack",
                                       r.origin(), kName));
    return p;
}

Paging read_paging(const Results& r) {
    Paging p;
    p.page_bytes = r.number("stackprobe", "/paging/page_bytes");
    p.resident_step_bytes = r.number("stackprobe", "/paging/resident_step_bytes");
    p.stack_bytes = r.number("stackprobe", "/paging/stack_bytes");
    const auto& samples = r.at("stackprobe", "/paging/samples");
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const std::string at = fmt::format("/paging/samples/{}", i);
        p.samples.push_back({r.number("stackprobe", at + "/depth_bytes") / 1024,
                             r.number("stackprobe", at + "/resident_kib")});
    }
    return p;
}

std::string stop_reason(const ThreadLimit& l) {
    if (l.binding_limit != "none" && !l.binding_limit.empty()) return l.binding_limit;
    if (l.forecast_threads)
        return fmt::format("{}, short of {} at {:.0f}", l.stopped_by, l.forecast_binding_limit,
                           *l.forecast_threads);
    return l.stopped_by;
}

std::vector<ThreadLimit> read_thread_limits(const Results& r, const std::string& name) {
    std::vector<ThreadLimit> limits;
    const auto& rows = r.at(name, "/results");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::string at = fmt::format("/results/{}", i);
        ThreadLimit l;
        l.stack = stack_label(static_cast<std::uint64_t>(r.number(name, at + "/stack_bytes")),
                              r.flag(name, at + "/default_stack"));
        l.threads = r.number(name, at + "/threads_reached");
        l.stopped_by = r.text(name, at + "/stopped_by");
        l.binding_limit = r.text_or_null(name, at + "/binding_limit");
        l.evidence = r.text_or_null(name, at + "/evidence");
        const nlohmann::json& row = rows[i];
        if (row.contains("forecast_threads") && row["forecast_threads"].is_number())
            l.forecast_threads = row["forecast_threads"].get<double>();
        if (row.contains("forecast_binding_limit") && row["forecast_binding_limit"].is_string())
            l.forecast_binding_limit = row["forecast_binding_limit"];
        if (row.contains("forecast_confirmed") && row["forecast_confirmed"].is_boolean())
            l.forecast_confirmed = row["forecast_confirmed"].get<bool>();
        limits.push_back(l);
    }
    if (limits.empty())
        throw ResultsError(fmt::format("{}/{}.json: /results is empty", r.origin(), name));
    return limits;
}

std::vector<StackForecastRow> read_forecast(const Results& r, const std::string& name) {
    std::vector<StackForecastRow> out;
    const nlohmann::json& doc = r.document(name);
    if (!doc.contains("forecast")) return out;
    const auto& forecast = r.at(name, "/forecast");
    for (std::size_t i = 0; i < forecast.size(); ++i) {
        const std::string at = fmt::format("/forecast/{}", i);
        StackForecastRow f;
        f.stack = stack_label(static_cast<std::uint64_t>(r.number(name, at + "/stack_bytes")),
                              r.flag(name, at + "/default_stack"));
        f.threads = r.number_or_null(name, at + "/threads").value_or(0);
        f.binding_limit = r.text(name, at + "/binding_limit");
        const auto& limits = r.at(name, at + "/limits");
        for (std::size_t k = 0; k < limits.size(); ++k) {
            const std::string lat = fmt::format("{}/limits/{}", at, k);
            if (!r.flag(name, lat + "/enforced") || !limits[k].contains("headroom_threads"))
                continue;
            f.limits.push_back(
                {r.text(name, lat + "/name"), r.number(name, lat + "/headroom_threads")});
        }
        out.push_back(std::move(f));
    }
    return out;
}

std::vector<ConnectionCost> read_connection_costs(const Results& r) {
    constexpr std::string_view kPrefix = "connections-";
    std::vector<ConnectionCost> out;
    for (const auto& name : r.names_starting_with(std::string(kPrefix))) {
        ConnectionCost c;
        c.server = name.substr(kPrefix.size());
        if (r.at(name, "/summary/server").is_null()) {
            const std::string died = r.text_or_null(name, "/summary/server_died");
            c.not_measured =
                died.empty() ? "the server was not sampled" : "the server died mid-run: " + died;
            out.push_back(c);
            continue;
        }
        c.threads_added = r.number(name, "/summary/server/threads_added");
        c.vsz_kib = r.number(name, "/summary/server/vsz_per_thread_kib");
        c.rss_kib = r.number(name, "/summary/server/rss_per_thread_kib");
        c.rss_anon_kib = r.number(name, "/summary/server/rss_anon_per_thread_kib");
        c.page_tables_kib = r.number(name, "/summary/server/pte_per_thread_kib");
        out.push_back(c);
    }
    return out;
}

std::vector<LiveInspection> read_live_inspections(const Results& r) {
    std::vector<LiveInspection> out;
    for (const auto& name : r.names_starting_with("live-")) {
        LiveInspection l;
        l.name = name;
        l.process = r.text(name, "/process/name");
        l.threads = r.number(name, "/process/threads");
        l.vsz_kib = r.number(name, "/process/vsz_kib");
        l.rss_kib = r.number(name, "/process/rss_kib");
        l.page_tables_kib = r.number(name, "/process/page_tables_kib");
        l.stacks_reserved_kib = r.number(name, "/process/stacks_reserved_kib");
        l.stacks_resident_kib = r.number(name, "/process/stacks_resident_kib");
        l.kernel_stack_kib_per_thread = r.number(name, "/process/kernel_stack_kib_per_thread");
        l.kernel_stacks_kib = r.number(name, "/process/kernel_stacks_kib");
        l.other_resident_kib = r.number(name, "/process/other_resident_kib");
        if (!r.at(name, "/high_water").is_null()) {
            l.high_water_min_kib = r.number(name, "/high_water/min_kib");
            l.high_water_p50_kib = r.number(name, "/high_water/p50_kib");
            l.high_water_p90_kib = r.number(name, "/high_water/p90_kib");
            l.high_water_max_kib = r.number(name, "/high_water/max_kib");
            l.reserved_p50_kib = r.number(name, "/high_water/reserved_p50_kib");
            l.suggested_stack_kib = r.number(name, "/high_water/suggested_stack_kib");
            for (const auto& n : r.at(name, "/high_water/names_at_max"))
                l.names_at_max.push_back(n.get<std::string>());
        }
        const auto& threads = r.at(name, "/threads");
        for (std::size_t i = 0; i < threads.size(); ++i) {
            const std::string at = fmt::format("/threads/{}", i);
            // The same threads the high-water summary counts.
            if (r.flag(name, at + "/main") || r.at(name, at + "/mapping").is_null()) continue;
            l.high_water_kib.push_back(r.number(name, at + "/stack_high_water_kib"));
        }
        std::sort(l.high_water_kib.begin(), l.high_water_kib.end());
        l.forecast_threads = r.number_or_null(name, "/forecast/threads");
        l.forecast_binding_limit = r.text(name, "/forecast/binding_limit");
        out.push_back(std::move(l));
    }
    return out;
}

}  // namespace tp::report
