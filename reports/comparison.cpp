#include "comparison.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include "probe_results.hpp"

namespace tp::report {
namespace {

std::string host(const Results& r) {
    return r.text(context_file(r), "/context/host");
}
std::string measured_from(const Results& r) {
    return r.text(context_file(r), "/context/time");
}

// A figure's text at a precision its size needs: x2.15, 99.8%, 133263 requests/s, 8.3 KiB,
// with its range where it was measured several times.
std::string figure_text(const ClaimFigure& f) {
    if (f.unit == "x") return describe(f.spread, "x{:.2f}");
    if (f.unit == "%") return describe(f.spread, "{:.1f}%");
    const double size = std::max(std::abs(f.spread.min), std::abs(f.spread.max));
    const std::string number = size >= 100 ? "{:.0f}" : size >= 10 ? "{:.1f}" : "{:.2f}";
    const auto one = [&](double v) { return fmt::format(fmt::runtime(number), v); };
    std::string out = fmt::format("{} {}", one(f.spread.median), f.unit);
    if (f.spread.repetitions > 1)
        out += fmt::format(" ({} to {}, {} runs)", one(f.spread.min), one(f.spread.max),
                           f.spread.repetitions);
    return out;
}

// A claim's figures on one machine, or its words where it has none.
std::string measured_text(const Claim& c) {
    if (c.figures.empty()) return c.measured;
    std::string out;
    for (const auto& f : c.figures)
        out += (out.empty() ? "" : "; ") + fmt::format("{}: {}", f.name, figure_text(f));
    return out;
}

// Rows named by a key, in the order the machines first give them, each machine's cell
// filled where it has the row: tables over machines that measured different stack sizes.
class SideBySide {
  public:
    SideBySide(std::vector<std::string> header, std::size_t machines, std::size_t per_machine)
        : machines_(machines), per_machine_(per_machine) {
        table_.header = std::move(header);
        table_.numeric.assign(table_.header.size(), true);
        table_.numeric[0] = false;
    }
    void set(const std::string& row, std::size_t machine, std::vector<std::string> cells) {
        auto found = index_.find(row);
        if (found == index_.end()) {
            found = index_.emplace(row, table_.rows.size()).first;
            table_.rows.emplace_back(1 + machines_ * per_machine_, "-");
            table_.rows.back()[0] = row;
        }
        for (std::size_t i = 0; i < cells.size() && i < per_machine_; ++i)
            table_.rows[found->second][1 + machine * per_machine_ + i] = std::move(cells[i]);
    }
    Table& table() { return table_; }

  private:
    std::size_t machines_, per_machine_;
    Table table_;
    std::map<std::string, std::size_t> index_;
};

// One header cell per machine and figure: "vm: RSS/thread KiB".
std::vector<std::string> header(const std::string& first, const std::vector<MachineRun>& machines,
                                const std::vector<std::string>& figures) {
    std::vector<std::string> out{first};
    for (const auto& m : machines)
        for (const auto& f : figures)
            out.push_back(figures.size() == 1 && f.empty() ? m.label : m.label + ": " + f);
    return out;
}

const nlohmann::json* limit_reading(const Results& r, const std::string& name) {
    for (const auto& limit : r.at(context_file(r), "/context/limits"))
        if (limit.value("limit", "") == name) return &limit;
    return nullptr;
}

std::string reading_text(const nlohmann::json* limit) {
    if (!limit) return "none";
    const auto& ceiling = limit->at("ceiling");
    const auto& current = limit->at("current");
    const std::string unit = limit->value("unit", "");
    return fmt::format("{} of {} {}{}",
                       current.is_number() ? fmt::format("{:.0f}", current.get<double>())
                                           : std::string("not measured"),
                       ceiling.is_number() ? fmt::format("{:.0f}", ceiling.get<double>())
                                           : std::string("unlimited"),
                       unit, limit->value("enforced", true) ? "" : " (not enforced)");
}

std::string busy_text(const Results& r) {
    double sum = 0;
    int runs = 0;
    for (const auto& e : r.experiments()) {
        const auto other = other_work(r, e.name);
        if (!other) continue;
        sum += *other;
        ++runs;
    }
    return runs ? fmt::format("{:.2f} cores of other work on average", sum / runs) : "not recorded";
}

Block machines_table(const std::vector<MachineRun>& machines) {
    SideBySide t(header("", machines, {""}), machines.size(), 1);
    t.table().numeric.assign(t.table().header.size(), false);
    for (std::size_t i = 0; i < machines.size(); ++i) {
        const Results& r = machines[i].results;
        const std::string f = context_file(r);
        t.set("results", i, {r.origin()});
        t.set("measured from", i, {measured_from(r)});
        t.set("run", i,
              {fmt::format("{} experiments, {:.0f} s", r.experiments().size(), total_seconds(r))});
        t.set("host", i, {host(r)});
        t.set("kernel", i, {r.text(f, "/context/kernel")});
        t.set("glibc", i, {r.text(f, "/context/glibc")});
        t.set("page size", i, {fmt::format("{:.0f} B", r.number(f, "/context/page_size"))});
        t.set("topology", i, {r.text(f, "/context/topology/summary")});
        t.set("CPU", i, {r.text(f, "/context/topology/cpu_model")});
        t.set("threadprobe", i, {r.text(f, "/version")});
        t.set("machine load", i, {busy_text(r)});
        for (const std::string cgroup : {"pids cgroup", "memory cgroup"}) {
            const auto* reading = limit_reading(r, cgroup);
            t.set(cgroup, i,
                  {reading
                       ? fmt::format("{} ({})", reading_text(reading), reading->value("source", ""))
                       : std::string("none")});
        }
    }
    // Every other limit a thread meets, as each machine read it at its start.
    for (std::size_t i = 0; i < machines.size(); ++i)
        for (const auto& limit :
             machines[i].results.at(context_file(machines[i].results), "/context/limits")) {
            const std::string name = limit.value("limit", "");
            if (name == "pids cgroup" || name == "memory cgroup") continue;
            t.set(name, i, {reading_text(&limit)});
        }
    return std::move(t.table());
}

std::vector<Block> claims_section(const std::vector<MachineRun>& machines) {
    std::vector<Block> blocks;
    std::vector<std::string> summary;
    for (const auto& m : machines) {
        std::map<Verdict, int> count;
        for (const auto& c : m.claims) ++count[c.verdict];
        summary.push_back(
            fmt::format("{}: {} claims, {} hold, {} differ, {} inconclusive, {} do "
                        "not apply",
                        m.label, m.claims.size(), count[Verdict::holds], count[Verdict::differs],
                        count[Verdict::inconclusive], count[Verdict::does_not_apply]));
    }
    blocks.push_back(Bullets{summary});
    std::vector<std::string> head{"#", "The article says"};
    for (const auto& m : machines) {
        head.push_back(m.label);
        head.push_back(m.label + ": measured");
    }
    Table t;
    t.header = head;
    t.numeric.assign(head.size(), false);
    t.numeric[0] = true;
    for (std::size_t i = 0; i < machines.size(); ++i) t.verdict_columns.push_back(2 + 2 * i);
    // By the claims' stable ids, in the first machine's order.
    std::vector<std::string> ids;
    std::map<std::string, std::string> statements;
    for (const auto& m : machines)
        for (const auto& c : m.claims)
            if (statements.emplace(c.id, c.article).second) ids.push_back(c.id);
    for (std::size_t n = 0; n < ids.size(); ++n) {
        std::vector<std::string> row{std::to_string(n + 1), statements[ids[n]]};
        for (const auto& m : machines) {
            const auto c = std::find_if(m.claims.begin(), m.claims.end(),
                                        [&](const Claim& claim) { return claim.id == ids[n]; });
            if (c == m.claims.end()) {
                row.insert(row.end(), {"-", "not judged in these results"});
                continue;
            }
            std::string measured = measured_text(*c);
            if (c->measured_while_busy())
                measured += fmt::format(" [measured while other work took up to {:.1f} cores]",
                                        *c->busiest_other_cores);
            row.insert(row.end(), {verdict_name(c->verdict), measured});
        }
        t.rows.push_back(std::move(row));
    }
    blocks.push_back(std::move(t));
    return blocks;
}

std::string kib(double v) {
    return fmt::format("{:.1f}", v);
}

Table thread_cost_table(const std::vector<MachineRun>& machines) {
    SideBySide t(header("stack", machines,
                        {"threads", "VSZ/thread KiB", "RSS/thread KiB", "kernel stack/task KiB"}),
                 machines.size(), 4);
    for (std::size_t i = 0; i < machines.size(); ++i)
        for (const auto& run : largest_per_stack(read_sweep(machines[i].results)))
            t.set(stack_label(run.stack_bytes, run.default_stack), i,
                  {run.connections < run.threads_requested
                       ? fmt::format("{:.0f} of {:.0f} ({})", run.connections,
                                     run.threads_requested, run.stopped_by)
                       : fmt::format("{:.0f}", run.connections),
                   kib(run.probe.vsz_per_thread_kib), kib(run.probe.rss_per_thread_kib),
                   kib(run.kernel_stack_per_task_kib)});
    return std::move(t.table());
}

Table scale_table(const std::vector<MachineRun>& machines) {
    SideBySide t(header("server", machines, {"connections", "total KiB/conn"}), machines.size(), 2);
    for (std::size_t i = 0; i < machines.size(); ++i)
        for (const std::string model : {"threads", "epoll"}) {
            const ScaleRun s = read_scale(machines[i].results, model);
            t.set(model, i,
                  {fmt::format("{:.0f}", s.connections), kib(s.total_kib_per_connection())});
        }
    return std::move(t.table());
}

Table limits_table(const std::vector<MachineRun>& machines) {
    SideBySide t(header("stack", machines, {"threads reached", "stopped by", "forecast"}),
                 machines.size(), 3);
    t.table().numeric.assign(t.table().header.size(), false);
    for (std::size_t i = 0; i < machines.size(); ++i)
        for (const auto& l : read_thread_limits(machines[i].results, "limitprobe"))
            t.set(l.stack, i,
                  {fmt::format("{:.0f}", l.threads), stop_reason(l),
                   l.forecast_threads
                       ? fmt::format("{:.0f} by {}", *l.forecast_threads, l.forecast_binding_limit)
                       : std::string("-")});
    return std::move(t.table());
}

Table depth_table(const std::vector<MachineRun>& machines) {
    SideBySide t(header("stack", machines, {"levels"}), machines.size(), 1);
    for (std::size_t i = 0; i < machines.size(); ++i)
        for (const auto& d : read_stack_depths(machines[i].results))
            t.set(d.label, i, {fmt::format("{:.0f}", d.depth)});
    return std::move(t.table());
}

}  // namespace

std::vector<MachineRun> load_machines(const std::vector<std::string>& folders,
                                      const std::vector<std::string>& labels) {
    std::vector<MachineRun> machines;
    for (const auto& folder : folders) {
        Results results = Results::load(folder);
        check_version(results);
        for (const auto& m : machines)
            if (host(m.results) == host(results) &&
                measured_from(m.results) == measured_from(results))
                throw ResultsError(fmt::format(
                    "{} and {}: the same machine and time ({}, {}): give each run once",
                    m.results.origin(), results.origin(), host(results), measured_from(results)));
        auto claims = evaluate_claims(results);
        machines.push_back({host(results), std::move(results), std::move(claims)});
    }
    if (!labels.empty()) {
        for (std::size_t i = 0; i < machines.size() && i < labels.size(); ++i)
            machines[i].label = labels[i];
        return machines;
    }
    // Two runs of one host: told apart by when they were measured.
    for (auto& m : machines) {
        const auto same = std::count_if(machines.begin(), machines.end(), [&](const MachineRun& o) {
            return host(o.results) == host(m.results);
        });
        if (same > 1) m.label = fmt::format("{} ({})", host(m.results), measured_from(m.results));
    }
    return machines;
}

Document build_comparison(const std::vector<MachineRun>& machines, const RunInfo& info) {
    Document doc;
    std::string names;
    for (const auto& m : machines) names += (names.empty() ? "" : ", ") + m.label;
    doc.title = fmt::format("threadprobe: A Tale of Two Concurrencies, measured on {} machines",
                            machines.size());
    auto add = [&](Block b) { doc.blocks.push_back(std::move(b)); };
    add(Paragraph{fmt::format(
        "David Beazley's \"A Tale of Two Concurrencies (Part 1)\", measured by scripts/reproduce "
        "on each of {}: a column per machine, every figure and verdict computed from that "
        "machine's result files by the same rules as its own report, none typed in. Each "
        "machine's own report (figures, every table, what ran) is beside its results folder.",
        names)});
    add(Bullets{{fmt::format("rendered by tpreport {} built with {}, from {}", THREADPROBE_VERSION,
                             info.compiler, info.invocation)}});
    add(Heading{2, "The machines"});
    add(
        Paragraph{"What each run measured on: the system, and the limits a thread meets there "
                  "(in use of ceiling, as the probe read them at its start)."});
    add(machines_table(machines));
    add(Heading{2, "The article's claims"});
    for (auto& block : claims_section(machines)) add(std::move(block));
    add(Heading{2, "What a connection thread costs (threadprobe)"});
    add(
        Paragraph{"At each stack size, the run with the most connections: per-thread slopes from "
                  "the baseline to the plateau, probe side; kernel stack per task added."});
    add(thread_cost_table(machines));
    add(Heading{2, "Thread per connection against an event loop, at scale"});
    add(scale_table(machines));
    add(Heading{2, "Where threads stop, and the forecast (limitprobe)"});
    add(limits_table(machines));
    add(Heading{2, "Recursion depth per stack size (stackprobe)"});
    add(depth_table(machines));
    return doc;
}

nlohmann::json comparison_data(const std::vector<MachineRun>& machines, const RunInfo& info) {
    using nlohmann::json;
    json out_machines = json::array();
    json claims = json::array();
    std::map<std::string, std::size_t> claim_index;
    for (const auto& m : machines) {
        json data = report_data(m.results, m.claims, info);
        data["label"] = m.label;
        data["results"] = m.results.origin();
        out_machines.push_back(std::move(data));
        for (const auto& c : m.claims) {
            auto [at, fresh] = claim_index.emplace(c.id, claims.size());
            if (fresh) claims.push_back({{"id", c.id}, {"statement", c.article}, {"verdicts", {}}});
            claims[at->second]["verdicts"][m.label] = verdict_name(c.verdict);
        }
    }
    return {{"tool", "tpreport"},
            {"version", THREADPROBE_VERSION},
            {"invocation", info.invocation},
            {"machines", out_machines},
            {"claims", claims}};
}

}  // namespace tp::report
