#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "probe_results.hpp"

namespace tp::report {
namespace {

std::string kib(double v) {
    return fmt::format("{:.1f}", v);
}

std::string optional_figure(const std::optional<double>& v, const char* format_spec) {
    return v ? fmt::format(fmt::runtime(format_spec), *v) : "-";
}

Block claims_table(const std::vector<Claim>& claims) {
    Table t;
    t.header = {"#", "The article says", "Measured here", "Verdict", "Rule"};
    t.numeric = {true, false, false, false, false};
    t.verdict_columns = {3};
    for (std::size_t i = 0; i < claims.size(); ++i) {
        const Claim& c = claims[i];
        std::string measured = c.measured;
        if (c.measured_while_busy())
            measured += fmt::format(" [measured while other work took up to {:.1f} cores]",
                                    *c.busiest_other_cores);
        t.rows.push_back(
            {std::to_string(i + 1), c.article, measured, verdict_name(c.verdict), c.rule});
    }
    return t;
}

std::string verdict_summary(const std::vector<Claim>& claims) {
    auto count = [&](Verdict v) {
        return std::count_if(claims.begin(), claims.end(),
                             [v](const Claim& c) { return c.verdict == v; });
    };
    return fmt::format(
        "{} claims of the article, each judged from the result files by the rule beside it: {} "
        "hold, {} differ, {} inconclusive, {} do not apply on this machine. A figure measured "
        "several times is shown as its median with its range, and judged on the range: it holds "
        "or differs only when every repetition is on the same side of the rule's threshold, and "
        "is inconclusive when they straddle it.",
        claims.size(), count(Verdict::holds), count(Verdict::differs), count(Verdict::inconclusive),
        count(Verdict::does_not_apply));
}

std::vector<Block> machine_section(const Results& r) {
    const std::string f = context_file(r);
    std::vector<Block> blocks;
    blocks.push_back(Heading{2, "Machine limits"});
    Table limits;
    limits.header = {"limit", "in use", "ceiling", "unit", "enforced", "source"};
    limits.numeric = {false, true, true, false, false, false};
    const auto& readings = r.at(f, "/context/limits");
    for (std::size_t i = 0; i < readings.size(); ++i) {
        const std::string at = fmt::format("/context/limits/{}", i);
        // A probe writes null for a figure it could not read (a /proc file it had no
        // descriptor left for): said so, never shown as 0.
        const auto current = r.number_or_null(f, at + "/current");
        const auto ceiling = r.number_or_null(f, at + "/ceiling");
        limits.rows.push_back(
            {r.text(f, at + "/limit"), current ? fmt::format("{:.0f}", *current) : "not measured",
             ceiling ? fmt::format("{:.0f}", *ceiling) : "unlimited", r.text(f, at + "/unit"),
             r.flag(f, at + "/enforced") ? "yes" : "no", r.text(f, at + "/source")});
    }
    blocks.push_back(Paragraph{
        "The limits that can stop threads and connections, read by the probe at its start:"});
    blocks.push_back(std::move(limits));
    return blocks;
}

Table sweep_table(const Results& r) {
    Table t;
    t.header = {"stack",
                "threads",
                "VSZ/thread KiB",
                "RSS/thread KiB",
                "PTE/thread KiB",
                "server RSS/thread KiB",
                "kernel stack/task KiB",
                "commit/task KiB",
                "note"};
    t.numeric = {false, true, true, true, true, true, true, true, false};
    for (const auto& run : read_sweep(r))
        t.rows.push_back({stack_label(run.stack_bytes, run.default_stack),
                          fmt::format("{:.0f}", run.connections), kib(run.probe.vsz_per_thread_kib),
                          kib(run.probe.rss_per_thread_kib), kib(run.probe.pte_per_thread_kib),
                          kib(run.server.rss_per_thread_kib), kib(run.kernel_stack_per_task_kib),
                          kib(run.commit_per_task_kib),
                          run.other_activity ? "other activity in the system-wide figures" : ""});
    return t;
}

// The median over the repetitions and, where there were several, the range.
std::string spread_text(const std::vector<double>& values, const char* format) {
    if (values.empty()) return "-";
    return describe(spread_of(values), format);
}

// A model's row: its perf1 medians and ratio, its perf2 rates; "-" for what was not measured.
std::vector<std::string> model_row(const Results& r, const std::string& model, std::string label) {
    std::vector<double> p50_one, p50_two, ratio, baseline, during, change;
    if (perf1_measured(r, model)) {
        const auto one = read_latency_runs(r, model, 1), two = read_latency_runs(r, model, 2);
        for (const auto& run : one) p50_one.push_back(run.p50_ms);
        for (const auto& run : two) p50_two.push_back(run.p50_ms);
        for (std::size_t i = 0; i < std::min(one.size(), two.size()); ++i)
            ratio.push_back(two[i].p50_ms / one[i].p50_ms);
    }
    if (perf2_measured(r, model))
        for (const auto& run : read_rate_runs(r, model)) {
            baseline.push_back(run.baseline_rps);
            if (run.during_rps) during.push_back(*run.during_rps);
            if (run.drop_percent) change.push_back(-*run.drop_percent);
        }
    return {std::move(label),
            spread_text(p50_one, "{:.1f}"),
            spread_text(p50_two, "{:.1f}"),
            spread_text(ratio, "x{:.2f}"),
            spread_text(baseline, "{:.0f}"),
            spread_text(during, "{:.0f}"),
            spread_text(change, "{:+.1f}%")};
}

// fibserver's models, then the Python server's where this run measured CPython.
Table models_table(const Results& r) {
    Table t;
    t.header = {"model", "p50 1 client ms", "p50 2 clients ms",
                "ratio", "tiny requests/s", "during long request",
                "change"};
    t.numeric = {false, true, true, true, true, true, true};
    for (const auto& model : article_models()) t.rows.push_back(model_row(r, model, model));
    for (const auto& model : measured_cpython_models(r))
        t.rows.push_back(model_row(r, model, model_display_name(model)));
    return t;
}

Table limits_table(const Results& r) {
    Table t;
    t.header = {"experiment",    "stack",    "threads reached", "stopped by",
                "binding limit", "forecast", "forecast by",     "evidence"};
    t.numeric = {false, false, true, false, false, true, false, false};
    for (const std::string name : {"limitprobe", "limitprobe-connections"})
        for (const auto& l : read_thread_limits(r, name)) {
            const std::string forecast = !l.forecast_threads
                                             ? "-"
                                             : fmt::format("{:.0f}{}", *l.forecast_threads,
                                                           !l.forecast_confirmed   ? ""
                                                           : *l.forecast_confirmed ? " (agrees)"
                                                                                   : " (differs)");
            t.rows.push_back(
                {name == "limitprobe" ? "threads" : "threads, each with a connection", l.stack,
                 fmt::format("{:.0f}", l.threads), l.stopped_by, l.binding_limit, forecast,
                 l.forecast_binding_limit.empty() ? "-" : l.forecast_binding_limit, l.evidence});
        }
    return t;
}

Table depth_table(const Results& r) {
    Table t;
    t.header = {"stack", "levels", "frame B", "usable", "above first frame B", "ended by"};
    t.numeric = {false, true, true, true, true, false};
    for (const auto& d : read_stack_depths(r))
        t.rows.push_back({d.label, fmt::format("{:.0f}", d.depth),
                          fmt::format("{:.0f}", d.frame_bytes),
                          fmt::format("{:.1f}%", 100 * d.usable_ratio),
                          fmt::format("{:.0f}", d.above_first_frame_bytes), d.ended_by});
    return t;
}

Table scale_table(const Results& r) {
    Table t;
    t.header = {"server",        "connections",           "server threads added",
                "user KiB/conn", "kernel stack KiB/conn", "socket kernel KiB/conn",
                "total KiB/conn"};
    t.numeric = {false, true, true, true, true, true, true};
    for (const std::string model : {"threads", "epoll"}) {
        const ScaleRun s = read_scale(r, model);
        t.rows.push_back({model, fmt::format("{:.0f}", s.connections),
                          fmt::format("{:.0f}", s.server_threads_added),
                          kib(s.user_kib_per_connection), kib(s.kernel_stack_kib_per_connection),
                          s.socket_kernel_kib_per_connection
                              ? kib(*s.socket_kernel_kib_per_connection)
                              : std::string("not measured"),
                          kib(s.total_kib_per_connection())});
    }
    return t;
}

// The slab caches behind "socket kernel", per connection end, at the run with the most
// connections: where the kernel's share of a connection goes.
std::string socket_caches_text(const Results& r) {
    std::string best;
    double most = -1;
    // epoll first: at the same count its slab growth is the sockets' alone, no thread's.
    for (const std::string model : {"epoll", "threads"}) {
        const ScaleRun s = read_scale(r, model);
        if (s.socket_kernel_kib_per_connection && s.connections > most) {
            most = s.connections;
            best = "scale-" + model;
        }
    }
    if (best.empty())
        return "Socket kernel memory was not measured in these results (they predate it).";
    const nlohmann::json& k = r.at(best, "/summary/system/socket_kernel");
    std::string counted, other;
    for (const auto& cache : k.at("caches")) {
        const std::string item = fmt::format("{} {:.2f}", cache.at("cache").get<std::string>(),
                                             cache.at("kib_per_end").get<double>());
        std::string& list = cache.at("counted").get<bool>() ? counted : other;
        list += (list.empty() ? "" : ", ") + item;
    }
    return fmt::format(
        "Socket kernel memory is the slab growth of the socket caches over both ends of every "
        "loopback connection, halved: the server's end, the same in every model. At {} ({:.0f} "
        "connections, from {}), KiB per connection end: {}{}.",
        best, most, k.at("source").get<std::string>(), counted.empty() ? "none" : counted,
        other.empty() ? "" : "; moved as well, not counted as the socket's: " + other);
}

// How far the emulation is from CPython, in percent of CPython's figure.
std::string gap_percent(double emulated, double cpython) {
    if (cpython == 0) return "-";
    return fmt::format("{:+.0f}%", 100 * (emulated - cpython) / cpython);
}

// The emulated GIL against CPython's, figure by figure, from the same run.
std::vector<Block> gil_comparison_section(const Results& r) {
    std::vector<Block> out;
    out.push_back(Heading{3, "The emulated GIL against CPython"});
    const auto gil = gil_figures(r, "gil");
    const auto cpython = gil_figures(r, cpython_model("threads"));
    if (!gil) return out;
    if (!cpython) {
        out.push_back(
            Paragraph{"CPython not measured: no python3 on the machine that ran these "
                      "experiments (scripts/setup installs Debian's python3)."});
        return out;
    }
    out.push_back(Paragraph{fmt::format(
        "fibserver's gil model (fib({:.0f}) for perf1, fib({:.0f}) during perf2) against the "
        "Python server's threads model under CPython (fib({:.0f}), fib({:.0f}): CPython computes "
        "fib 30 to 50 times slower), medians and ranges over the repetitions; the gap is the "
        "emulation's median against CPython's.",
        gil->perf1_n, gil->perf2_n, cpython->perf1_n, cpython->perf2_n)});
    Table t;
    t.header = {"figure", "emulated GIL", "CPython", "gap"};
    t.numeric = {false, true, true, true};
    t.rows.push_back({"perf1: the faster of 2 clients' median latency / 1 client's",
                      describe(gil->perf1_ratio, "x{:.2f}"),
                      describe(cpython->perf1_ratio, "x{:.2f}"),
                      gap_percent(gil->perf1_ratio.median, cpython->perf1_ratio.median)});
    auto optional_row = [&](const std::string& name, const std::optional<Spread>& a,
                            const std::optional<Spread>& b, const std::string& format) {
        t.rows.push_back({name, a ? describe(*a, format) : "not measured",
                          b ? describe(*b, format) : "not measured",
                          a && b ? gap_percent(a->median, b->median) : "-"});
    };
    optional_row("perf2: tiny-request rate's drop while fib(N) ran", gil->perf2_drop_percent,
                 cpython->perf2_drop_percent, "{:.1f}%");
    optional_row("perf2: tiny requests/s while fib(N) ran", gil->perf2_rate_during,
                 cpython->perf2_rate_during, "{:.0f}");
    out.push_back(std::move(t));
    return out;
}

nlohmann::json gil_figures_json(const std::optional<GilFigures>& g) {
    using nlohmann::json;
    if (!g) return nullptr;
    auto spread = [](const std::optional<Spread>& s) -> json {
        if (!s) return nullptr;
        return {{"median", s->median},
                {"min", s->min},
                {"max", s->max},
                {"repetitions", s->repetitions}};
    };
    return {{"perf1_n", g->perf1_n},
            {"perf2_n", g->perf2_n},
            {"perf1_ratio", spread(g->perf1_ratio)},
            {"perf2_drop_percent", spread(g->perf2_drop_percent)},
            {"perf2_rate_during", spread(g->perf2_rate_during)}};
}

std::string mib(double kib_value) {
    return fmt::format("{:.1f}", kib_value / 1024);
}

// Where each inspected server's memory goes: its threads' stacks, the kernel's stacks for
// them, page tables, and everything else resident.
Table live_memory_table(const std::vector<LiveInspection>& live) {
    Table t;
    t.header = {"server",
                "threads",
                "VSZ MiB",
                "RSS MiB",
                "stacks reserved MiB",
                "stacks resident MiB",
                "kernel stacks MiB",
                "page tables MiB",
                "other resident MiB"};
    t.numeric = {false, true, true, true, true, true, true, true, true};
    for (const auto& l : live)
        t.rows.push_back(
            {fmt::format("{} ({})", l.name.substr(5), l.process), fmt::format("{:.0f}", l.threads),
             mib(l.vsz_kib), mib(l.rss_kib), mib(l.stacks_reserved_kib), mib(l.stacks_resident_kib),
             mib(l.kernel_stacks_kib), mib(l.page_tables_kib), mib(l.other_resident_kib)});
    return t;
}

// One more connection's thread in fibserver and in CPython, and what the interpreter adds.
std::vector<Block> connection_cost_section(const std::vector<ConnectionCost>& costs) {
    Table t;
    t.header = {"server",
                "threads added",
                "VSZ KiB per connection",
                "RSS KiB per connection",
                "anonymous RSS KiB",
                "page tables KiB"};
    t.numeric = {false, true, true, true, true, true};
    for (const auto& c : costs)
        if (!c.not_measured.empty())
            t.rows.push_back({c.server, "not measured: " + c.not_measured, "-", "-", "-", "-"});
        else
            t.rows.push_back({c.server, fmt::format("{:.0f}", c.threads_added),
                              fmt::format("{:.1f}", c.vsz_kib), fmt::format("{:.1f}", c.rss_kib),
                              fmt::format("{:.1f}", c.rss_anon_kib),
                              fmt::format("{:.1f}", c.page_tables_kib)});
    std::vector<Block> blocks{
        Paragraph{"What one more connection cost each server, sampled from the holding side "
                  "(threadprobe --connect --server-pid): both give each connection a thread "
                  "at glibc's default stack."},
        std::move(t)};
    const auto find = [&](const std::string& server) {
        return std::find_if(costs.begin(), costs.end(), [&](const ConnectionCost& c) {
            return c.server == server && c.not_measured.empty();
        });
    };
    const auto native = find("fibserver-threads"), python = find("python-threads");
    if (native != costs.end() && python != costs.end())
        blocks.push_back(Paragraph{fmt::format(
            "A CPython thread adds {:+.1f} KiB resident ({:+.1f} KiB anonymous) and {:+.1f} KiB "
            "of virtual memory beyond fibserver's C thread: what the interpreter keeps for a "
            "thread and its connection.",
            python->rss_kib - native->rss_kib, python->rss_anon_kib - native->rss_anon_kib,
            python->vsz_kib - native->vsz_kib)});
    return blocks;
}

Table live_high_water_table(const std::vector<LiveInspection>& live) {
    Table t;
    t.header = {
        "server",  "stacks located",    "high-water min KiB",  "p50 KiB",     "p90 KiB", "max KiB",
        "deepest", "each reserves KiB", "suggested stack KiB", "more threads"};
    t.numeric = {false, true, true, true, true, true, false, true, true, false};
    for (const auto& l : live) {
        const std::string more = !l.forecast_threads
                                     ? "-"
                                     : fmt::format("{:.0f} ({})", *l.forecast_threads - l.threads,
                                                   l.forecast_binding_limit);
        t.rows.push_back({l.name.substr(5), std::to_string(l.high_water_kib.size()),
                          optional_figure(l.high_water_min_kib, "{:.0f}"),
                          optional_figure(l.high_water_p50_kib, "{:.0f}"),
                          optional_figure(l.high_water_p90_kib, "{:.0f}"),
                          optional_figure(l.high_water_max_kib, "{:.0f}"),
                          fmt::format("{}", fmt::join(l.names_at_max, ", ")),
                          optional_figure(l.reserved_p50_kib, "{:.0f}"),
                          optional_figure(l.suggested_stack_kib, "{:.0f}"), more});
    }
    return t;
}

std::string load_line(const Results& r) {
    double most = 0, sum = 0, steal = 0;
    std::string busiest;
    int runs = 0, busy = 0;
    for (const auto& e : r.experiments()) {
        const auto other = other_work(r, e.name);
        if (!other) continue;
        ++runs;
        sum += *other;
        if (r.document(e.name)["load"].contains("steal_cores"))
            steal += r.number(e.name, "/load/steal_cores");
        busy += *other > 0.5;
        if (*other >= most) {
            most = *other;
            busiest = e.name;
        }
    }
    if (runs == 0) return "machine load: not recorded by these results";
    return fmt::format(
        "machine load: work other than the probes took {:.2f} cores on average over the {} "
        "performance runs, at most {:.2f} ({}); {} of them beside more than half a core, flagged "
        "in the claims they feed; a hypervisor's other guests took {:.2f} cores on average "
        "(steal time)",
        sum / runs, runs, most, busiest, busy, steal / runs);
}

// What the speed checks around the performance runs saw of the host.
std::string host_speed_line(const Results& r) {
    const HostSpeed host(r);
    if (!host.full_speed_ms()) return "host speed: not checked by these results";
    int runs = 0, slowed = 0;
    double least = 1;
    std::string slowest;
    for (const auto& e : r.experiments()) {
        const auto share = host_speed_share(r, host, e.name);
        if (!share) continue;
        ++runs;
        slowed += *share < HostSpeed::kFull;
        if (*share < least) {
            least = *share;
            slowest = e.name;
        }
    }
    return fmt::format(
        "host speed: the fastest PU computed the speed check (a short fib, timed just before and "
        "just after each performance run) in {:.2f} ms; around {} of the {} runs a PU they "
        "computed on ran below {:.0f}% of that speed (the slowest at {:.0f}%{}), a host sharing "
        "its virtual CPUs that /proc/stat does not show; the claims leave those repetitions out",
        *host.full_speed_ms(), slowed, runs, HostSpeed::kFull * 100, least * 100,
        slowest.empty() ? "" : ", " + slowest);
}

// The header: what ran, where, with what, for how long; the details follow further down.
Block header(const Results& r, const RunInfo& info) {
    const std::string f = context_file(r);
    return Bullets{{
        fmt::format("run: {}, {} experiments, {:.0f} s, measured from {}", info.invocation,
                    r.experiments().size(), total_seconds(r), r.text(f, "/context/time")),
        fmt::format("machine: {} ({}), {}", r.text(f, "/context/host"),
                    r.text(f, "/context/topology/summary"),
                    r.text(f, "/context/topology/cpu_model")),
        fmt::format("system: {}, glibc {}, page size {:.0f} B", r.text(f, "/context/kernel"),
                    r.text(f, "/context/glibc"), r.number(f, "/context/page_size")),
        fmt::format("versions: threadprobe {} built with {}; figures by {}", r.text(f, "/version"),
                    info.compiler, info.gnuplot),
        load_line(r),
        host_speed_line(r),
    }};
}

std::vector<Block> runs_section(const Results& r) {
    std::vector<Block> blocks;
    blocks.push_back(Heading{2, "What ran"});
    Table t;
    t.header = {"experiment", "seconds", "exit", "other work (cores)", "host speed", "command"};
    t.numeric = {false, true, true, true, true, false};
    const HostSpeed host(r);
    for (const auto& run : r.experiments()) {
        const auto share = host_speed_share(r, host, run.name);
        t.rows.push_back({run.name, fmt::format("{:.2f}", run.seconds), std::to_string(run.status),
                          optional_figure(other_work(r, run.name), "{:.2f}"),
                          share ? fmt::format("{:.0f}%", *share * 100) : "-", run.command});
    }
    blocks.push_back(Paragraph{fmt::format(
        "{} experiments, {:.0f} s in all, one after another. Exit 1 means a probe reached a limit "
        "it was sent to find; its results are still whole. Each experiment's table is in "
        "results/NAME.txt beside its JSON.",
        r.experiments().size(), total_seconds(r))});
    blocks.push_back(std::move(t));
    return blocks;
}

}  // namespace

// The machine is described by the first sweep run: every probe writes the same context.
std::string context_file(const Results& r) {
    return read_sweep(r).front().name;
}

std::optional<double> host_speed_share(const Results& r, const HostSpeed& host,
                                       const std::string& name) {
    if (!r.has(name)) return std::nullopt;
    const SpeedChecks checks = read_speed_checks(r, name);
    if (checks.fib_ms.empty()) return std::nullopt;
    return host.share(checks);
}

// The work other than the probes' while each performance run ran (the probes record it from
// /proc/stat against their own CPU time); nothing for results from before they did.
std::optional<double> other_work(const Results& r, const std::string& name) {
    if (!r.has(name) || !r.document(name).contains("load")) return std::nullopt;
    return r.number(name, "/load/other_cores");
}

double total_seconds(const Results& r) {
    double total = 0;
    for (const auto& run : r.experiments()) total += run.seconds;
    return total;
}

void check_version(const Results& r) {
    const std::string theirs = r.text(context_file(r), "/version");
    // Major and minor: what a result file's keys may change with.
    auto release = [](const std::string& v) { return v.substr(0, v.rfind('.')); };
    if (release(theirs) != release(THREADPROBE_VERSION))
        throw ResultsError(fmt::format(
            "{}: results of threadprobe {}, which this tpreport ({}) cannot read: render them "
            "with tpreport {}",
            r.origin(), theirs, THREADPROBE_VERSION, release(theirs) + ".x"));
}

Document build_report(const Results& r, const std::vector<Claim>& claims,
                      const std::vector<DrawnFigure>& figures, const RunInfo& info) {
    const std::string f = context_file(r);
    Document doc;
    doc.title = fmt::format("threadprobe: A Tale of Two Concurrencies, measured on {}",
                            r.text(f, "/context/host"));
    auto add = [&](Block b) { doc.blocks.push_back(std::move(b)); };
    add(Paragraph{
        "David Beazley's \"A Tale of Two Concurrencies (Part 1)\" makes claims about threads, the "
        "GIL, process pools and what a thread really costs. scripts/reproduce measured each one on "
        "this machine; every figure and verdict below is computed from the result files in "
        "results/, none typed in."});
    add(header(r, info));
    add(Heading{2, "The article's claims"});
    add(Paragraph{verdict_summary(claims)});
    add(claims_table(claims));
    for (auto& block : machine_section(r)) add(std::move(block));
    add(Heading{2, "Figures"});
    for (const auto& drawn : figures)
        add(FigureBlock{drawn.figure.name, drawn.figure.title, drawn.figure.caption, drawn.svg});
    add(Heading{2, "Tables"});
    add(Heading{3, "What a connection thread costs (threadprobe)"});
    add(Paragraph{
        "Per-thread figures are slopes from the baseline to the plateau, probe side unless "
        "named; kernel stack and commit charge are system-wide, per task added on both sides."});
    add(sweep_table(r));
    add(Heading{3, "Thread per connection against an event loop, at scale"});
    add(scale_table(r));
    add(Paragraph{socket_caches_text(r)});
    add(Heading{3, "Every model under perf1 and perf2 (latencyprobe, rateprobe)"});
    add(models_table(r));
    for (auto& block : gil_comparison_section(r)) add(std::move(block));
    add(Heading{3, "Where threads stop (limitprobe)"});
    add(limits_table(r));
    if (const auto live = read_live_inspections(r); !live.empty()) {
        add(Heading{3, "A live server inspected (threadprobe --pid)"});
        add(Paragraph{
            "Each server ran on its own while threadprobe held connections to it; "
            "threadprobe --pid then read the server from /proc alone: every thread's stack "
            "mapping, its resident pages and its deepest resident page (the high-water mark), "
            "the kernel stacks measured here per thread, and how many more threads its limits "
            "allow at the stack size it uses."});
        add(live_memory_table(live));
        add(live_high_water_table(live));
    }
    if (const auto costs = read_connection_costs(r); !costs.empty()) {
        add(Heading{3, "A connection's thread in fibserver and in CPython"});
        for (auto& block : connection_cost_section(costs)) add(std::move(block));
    }
    add(Heading{3, "Recursion depth per stack size (stackprobe)"});
    add(depth_table(r));
    for (auto& block : runs_section(r)) add(std::move(block));
    return doc;
}

nlohmann::json report_data(const Results& r, const std::vector<Claim>& claims,
                           const RunInfo& info) {
    using nlohmann::json;
    const std::string f = context_file(r);
    json runs = json::array();
    const HostSpeed host(r);
    for (const auto& e : r.experiments()) {
        const auto other = other_work(r, e.name);
        const auto share = host_speed_share(r, host, e.name);
        runs.push_back({{"name", e.name},
                        {"seconds", e.seconds},
                        {"status", e.status},
                        {"command", e.command},
                        {"other_cores", other ? json(*other) : json(nullptr)},
                        {"host_speed_share", share ? json(*share) : json(nullptr)}});
    }
    json out_claims = json::array();
    for (std::size_t i = 0; i < claims.size(); ++i) {
        const Claim& c = claims[i];
        json figures = json::array();
        for (const auto& figure : c.figures)
            figures.push_back({{"name", figure.name},
                               {"median", figure.spread.median},
                               {"min", figure.spread.min},
                               {"max", figure.spread.max},
                               {"unit", figure.unit},
                               {"repetitions", figure.spread.repetitions}});
        out_claims.push_back(
            {{"id", c.id},
             {"number", i + 1},
             {"statement", c.article},
             {"measured", c.measured},
             {"verdict", verdict_name(c.verdict)},
             {"rule", c.rule},
             {"threshold", c.threshold ? json(*c.threshold) : json(nullptr)},
             {"figures", figures},
             {"sources", c.sources},
             {"busiest_other_cores",
              c.busiest_other_cores ? json(*c.busiest_other_cores) : json(nullptr)},
             {"measured_while_busy", c.measured_while_busy()}});
    }
    return {{"tool", "tpreport"},
            {"version", r.text(f, "/version")},
            {"invocation", info.invocation},
            {"built_with", info.compiler},
            {"machine",
             {{"host", r.text(f, "/context/host")},
              {"kernel", r.text(f, "/context/kernel")},
              {"glibc", r.text(f, "/context/glibc")},
              {"page_size", r.number(f, "/context/page_size")},
              {"topology", r.text(f, "/context/topology/summary")},
              {"cpu_model", r.text(f, "/context/topology/cpu_model")},
              {"measured_from", r.text(f, "/context/time")}}},
            {"runs", runs},
            {"claims", out_claims},
            {"comparison",
             {{"gil", gil_figures_json(gil_figures(r, "gil"))},
              {"cpython", gil_figures_json(gil_figures(r, cpython_model("threads")))}}}};
}

}  // namespace tp::report
