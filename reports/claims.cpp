#include "claims.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "probe_results.hpp"

namespace tp::report {
namespace {

Verdict holds_if(bool condition) {
    return condition ? Verdict::holds : Verdict::differs;
}

double processing_units(const Results& r) {
    return r.number(read_latency(r, "threads", 2).name, "/context/topology/pus");
}

// A figure measured once.
ClaimFigure point(std::string name, double value, std::string unit) {
    return {std::move(name), {value, value, value, 1}, std::move(unit)};
}

// The figure's spread, judged by the rule.
struct Judged {
    Spread spread;
    Verdict verdict;
};
Judged judged(const std::vector<double>& values, Holds side, double threshold) {
    const Spread s = spread_of(values);
    return {s, judge(s, side, threshold)};
}

// The runs a claim's figure comes from, and the most work other than theirs any of them saw.
template <typename Run>
void note_runs(Claim& c, const std::vector<Run>& runs) {
    for (const auto& run : runs) {
        c.sources.push_back(run.name);
        if (run.other_cores)
            c.busiest_other_cores = std::max(c.busiest_other_cores.value_or(0), *run.other_cores);
    }
}

// A share (0.83) as a percentage spread (83%).
Spread percent(const Spread& s) {
    return {s.median * 100, s.min * 100, s.max * 100, s.repetitions};
}

// A host that shares its virtual CPUs runs one at about half speed for a second or several,
// which /proc/stat does not show (steal 0): a perf1 latency or perf2 rate measured then is the
// host's doing, and one such repetition made a range straddle its threshold. Every performance
// run times a short fib on each PU just before and just after it; a repetition around which a
// PU it computed on ran below HostSpeed::kFull of the fastest check of the whole run is left
// out of the claims' figures, and the claim says so.

// The repetitions a figure is judged on: those at full speed in every experiment it compares.
struct Kept {
    std::vector<std::size_t> indices;
    std::vector<double> left_out;  // the share of full speed around each repetition left out
    std::size_t total = 0;
    bool all_slowed = false;  // none was at full speed: judged on them all

    // What the claim says of them: nothing where none was left out; `if_all_slowed`, what
    // follows where none was at full speed.
    std::string note(std::string_view if_all_slowed = "judged on them all") const {
        if (left_out.empty()) return "";
        const std::string speed = describe(percent(spread_of(left_out)), "{:.0f}%");
        if (all_slowed)
            return fmt::format(
                "; around every repetition the host ran a PU at only {} of its full speed: {}",
                speed, if_all_slowed);
        return fmt::format(
            "; {} of {} repetitions left out: around {} the host ran a PU at only {} of its full "
            "speed",
            left_out.size(), total, left_out.size() == 1 ? "it" : "them", speed);
    }
};

// `runs`: each experiment's repetitions, compared repetition by repetition (interleaved,
// repetition K of each ran at about the same time).
template <typename... Runs>
Kept at_full_speed(const HostSpeed& host, const std::vector<Runs>&... runs) {
    Kept k;
    k.total = std::min({runs.size()...});
    for (std::size_t i = 0; i < k.total; ++i) {
        const double share = std::min({host.share(runs[i].speed)...});
        if (share >= HostSpeed::kFull)
            k.indices.push_back(i);
        else
            k.left_out.push_back(share);
    }
    if (k.indices.empty()) {
        k.all_slowed = true;
        for (std::size_t i = 0; i < k.total; ++i) k.indices.push_back(i);
    }
    return k;
}

template <typename Run>
std::vector<Run> kept(const std::vector<Run>& runs, const Kept& k) {
    std::vector<Run> out;
    for (const std::size_t i : k.indices) out.push_back(runs[i]);
    return out;
}

// Repetition i of one experiment with repetition i of another: interleaved, they ran at about
// the same time.
template <typename Run, typename F>
std::vector<double> paired(const std::vector<Run>& a, const std::vector<Run>& b, F figure) {
    std::vector<double> out;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        out.push_back(figure(a[i], b[i]));
    return out;
}

// How long the second client's first reply waited, as a share of the first client's session:
// at least 80% means the server served them one after the other.
std::vector<double> wait_shares(const std::vector<LatencyRun>& runs) {
    std::vector<double> out;
    for (const auto& run : runs) {
        const Serialisation s = read_serialisation(run);
        if (s.first_session_ms > 0) out.push_back(s.second_first_reply_ms / s.first_session_ms);
    }
    if (out.empty()) throw ResultsError(fmt::format("{}: no client answered", runs.front().name));
    return out;
}

Claim serialisation_claim(const Results& r, const std::string& model, Holds side, std::string id,
                          std::string article, std::string rule) {
    const auto measured = read_latency_runs(r, model, 2);
    const Kept k = at_full_speed(HostSpeed(r), measured);
    const auto runs = kept(measured, k);
    const Judged j = judged(wait_shares(runs), side, 0.8);
    Claim c{std::move(article),
            fmt::format("{} server, 2 clients: the second client's first reply came after {} of "
                        "the first client's whole session{}",
                        model, describe(percent(j.spread), "{:.0f}%"), k.note()),
            std::move(rule),
            j.verdict,
            {},
            std::move(id),
            0.8,
            {{"second client's first reply / first client's session", j.spread, "ratio"}}};
    note_runs(c, runs);
    return c;
}

// The Python server's models are named as scripts/reproduce names their results
// (python-MODEL), fibserver's by their own names.
const std::string kCpythonThreads = cpython_model("threads");
std::string model_label(const std::string& model) {
    return is_cpython_model(model) ? model_display_name(model) : model + " model";
}
// "the threads model's", "CPython threads'": the reference a model's rate is compared with.
std::string threads_possessive(const std::string& threads) {
    return is_cpython_model(threads) ? model_label(threads) + "'"
                                     : "the " + model_label(threads) + "'s";
}
bool cpython_measured(const Results& r) {
    return perf2_measured(r, kCpythonThreads) && perf1_measured(r, kCpythonThreads);
}
// Whether this run measured perf2 on the Python server's MODEL beside its threads model.
bool cpython_rate_measured(const Results& r, const std::string& model) {
    return perf2_measured(r, cpython_model(model)) && perf2_measured(r, kCpythonThreads);
}

// A claim about the GIL or Python's thread stacks is about Python: judged on CPython where this
// run measured it, the native figure (the emulated GIL, a C++ thread) beside it; on the native
// one otherwise, saying so.
// `native` names what the other figure is: the emulated GIL, or a C++ thread's stack.
struct NativeFigure {
    std::string in_measured = "fibserver's emulation";  // "...; fibserver's emulation: ..."
    std::string judged = "the emulation";               // "...: judged on the emulation"
    std::string figure = "emulated GIL";                // "emulated GIL: <figure name>"
};
Claim judged_on_cpython(Claim emulation, const std::optional<Claim>& cpython,
                        const NativeFigure& native = {}) {
    if (!cpython) {
        emulation.measured +=
            fmt::format("; CPython not measured (no python3): judged on {}", native.judged);
        return emulation;
    }
    Claim c = emulation;
    c.verdict = cpython->verdict;
    c.measured = fmt::format("{} (judged on CPython); {}: {}", cpython->measured,
                             native.in_measured, emulation.measured);
    c.figures.clear();
    for (auto figure : cpython->figures) {
        figure.name = "CPython: " + figure.name;
        c.figures.push_back(figure);
    }
    for (auto figure : emulation.figures) {
        figure.name = native.figure + ": " + figure.name;
        c.figures.push_back(figure);
    }
    c.sources.insert(c.sources.end(), cpython->sources.begin(), cpython->sources.end());
    if (cpython->busiest_other_cores)
        c.busiest_other_cores =
            std::max(c.busiest_other_cores.value_or(0), *cpython->busiest_other_cores);
    return c;
}

// A perf2 claim about fibserver's model and the Python server's of the same name: `claim` is
// made for (model, its server's threads model) on each, judged on CPython where this run
// measured it.
const NativeFigure kFibserver{"fibserver", "fibserver", "fibserver"};
template <typename MakeClaim>
Claim on_both_servers(const Results& r, const std::string& model, MakeClaim claim) {
    return judged_on_cpython(claim(model, "threads"),
                             cpython_rate_measured(r, model)
                                 ? std::optional(claim(cpython_model(model), kCpythonThreads))
                                 : std::nullopt,
                             kFibserver);
}

// Two clients' latency over one client's, repetition by repetition, of the repetitions at full
// speed: the faster client's median against the one client's. A server that makes two clients
// wait for each other (a GIL, one PU) doubles both; a host that slows the PU one client's
// thread computes on, for the third of a second a run lasts, doubles that one alone, and on
// this VM it did so between two speed checks that found every PU at full speed.
struct LatencyRatio {
    std::vector<LatencyRun> one, two;
    std::vector<double> ratios;
    Kept kept;
};
LatencyRatio latency_ratio(const Results& r, const std::string& model) {
    const auto one = read_latency_runs(r, model, 1), two = read_latency_runs(r, model, 2);
    const Kept k = at_full_speed(HostSpeed(r), one, two);
    LatencyRatio l{kept(one, k), kept(two, k), {}, k};
    l.ratios = paired(l.one, l.two, [](const LatencyRun& a, const LatencyRun& b) {
        return b.faster_client_p50_ms / a.p50_ms;
    });
    return l;
}

std::vector<double> p50s(const std::vector<LatencyRun>& runs) {
    std::vector<double> out;
    for (const auto& run : runs) out.push_back(run.faster_client_p50_ms);
    return out;
}

Claim gil_doubles_latency(const Results& r, const std::string& model) {
    const LatencyRatio l = latency_ratio(r, model);
    const Judged j = judged(l.ratios, Holds::at_least, 1.7);
    Claim c{
        "Two clients making CPU-bound requests double each other's latency under the GIL, "
        "even on several cores (perf1).",
        fmt::format("{}, fib({:.0f}): median latency {} ms with 1 client, {} ms with 2 (the "
                    "faster client's): {}{}",
                    model_label(model), l.one.front().n, describe(spread_of(p50s(l.one)), "{:.1f}"),
                    describe(spread_of(p50s(l.two)), "{:.1f}"), describe(j.spread, "x{:.2f}"),
                    l.kept.note()),
        "holds if, with 2 clients, even the faster one's median latency is at least 1.7x one "
        "client's",
        j.verdict,
        {},
        "gil-doubles-latency",
        1.7,
        {{"latency with 2 clients (the faster) / with 1", j.spread, "x"}}};
    note_runs(c, l.one);
    note_runs(c, l.two);
    return c;
}

// A claim about parallelism needs a machine that computes two things side by side: two
// processing units, and two that give more than one's speed together (SMT siblings of one
// core, or vCPUs a host runs on one, do not). Below this speedup it cannot be tested.
constexpr double kParallelSpeedup = 1.5;

Claim parallel_latency(const Results& r, const std::string& model, std::string id,
                       std::string article) {
    const LatencyRatio l = latency_ratio(r, model);
    const double pus = processing_units(r);
    // Judged on the repetitions the machine had its PUs for. A host sharing its virtual CPUs
    // takes capacity away for seconds at a time, unseen in /proc/stat: two threads then
    // compute fib side by side at one PU's speed, or each at half speed. Just before and just
    // after each 2-client run, two threads of fib together are timed; what they got is counted
    // in PUs at full speed, the fastest one-thread time of this model's checks (the machine
    // running free), and the smaller of the two checks decides.
    double full_speed_ms = INFINITY;
    for (const auto& run : l.two)
        for (const auto& check : run.parallel_checks)
            full_speed_ms = std::min(full_speed_ms, check.one_ms);
    std::vector<double> capacities, ratios, left_out;
    for (std::size_t i = 0; i < l.ratios.size(); ++i) {
        std::optional<double> capacity;
        for (const auto& check : l.two[i].parallel_checks)
            if (check.together_ms > 0)
                capacity = std::min(capacity.value_or(INFINITY),
                                    check.threads * full_speed_ms / check.together_ms);
        if (capacity) capacities.push_back(*capacity);
        if (!capacity || *capacity >= kParallelSpeedup)
            ratios.push_back(l.ratios[i]);
        else
            left_out.push_back(*capacity);
    }
    // Two PUs at full speed are what the claim is about: where the host slowed one around
    // every repetition, two threads computing side by side got less than two PUs' worth.
    const bool parallel_enough = pus >= 2 && !ratios.empty() && !l.kept.all_slowed;
    const Judged j = judged(parallel_enough ? ratios : l.ratios, Holds::at_most, 1.3);
    std::string parallel;
    if (!capacities.empty())
        parallel = fmt::format(", which computed fib side by side at {} one PU's full speed",
                               describe(spread_of(capacities), "x{:.2f}"));
    if (!left_out.empty() && parallel_enough)
        parallel += fmt::format(
            "; {} of {} repetitions left out: around {} the PUs computed together at only {} "
            "(a host sharing them)",
            left_out.size(), l.ratios.size(), left_out.size() == 1 ? "it" : "them",
            describe(spread_of(left_out), "x{:.2f}"));
    Claim c{std::move(article),
            fmt::format("{}: median latency {} from 1 client to 2 (the faster client's), on "
                        "{:.0f} processing units{}{}",
                        model == "threads" ? "threads model" : model, describe(j.spread, "x{:.2f}"),
                        pus, parallel,
                        l.kept.note("two PUs at full speed, which the claim needs, were not there "
                                    "around any")),
            fmt::format("holds if, with 2 clients, the faster one's median latency is at most "
                        "1.3x one client's; judged on the repetitions around "
                        "which 2 or more processing units computed together at {:.1f}x one PU's "
                        "full speed or more (timed just before and just after each 2-client "
                        "run) and every PU ran at full speed; does not apply without one",
                        kParallelSpeedup),
            parallel_enough ? j.verdict : Verdict::does_not_apply,
            {},
            std::move(id),
            1.3,
            {{"latency with 2 clients (the faster) / with 1", j.spread, "x"}}};
    if (!capacities.empty())
        c.figures.push_back(
            {"2 threads' speed over one PU's at full speed (fib)", spread_of(capacities), "x"});
    note_runs(c, l.one);
    note_runs(c, l.two);
    return c;
}

std::vector<double> drops(const std::vector<RateRun>& runs) {
    std::vector<double> out;
    for (const auto& run : runs)
        if (run.drop_percent) out.push_back(*run.drop_percent);
    return out;
}

Spread baseline_spread(const std::vector<RateRun>& runs) {
    std::vector<double> out;
    for (const auto& run : runs) out.push_back(run.baseline_rps);
    return spread_of(out);
}

// How far the tiny-request rate fell while fib(N) ran; does not apply where fib(N) never
// overlapped the measurement.
Claim rate_drop_claim(const Results& r, const std::string& model, Holds side, double threshold,
                      std::string id, std::string article, std::string rule) {
    const auto measured = read_rate_runs(r, model);
    const Kept k = at_full_speed(HostSpeed(r), measured);
    const auto runs = kept(measured, k);
    Claim c{std::move(article), "", std::move(rule), Verdict::does_not_apply, {}, std::move(id),
            threshold,          {}};
    note_runs(c, runs);
    const auto d = drops(runs);
    if (d.empty()) {
        c.measured = fmt::format("{}: {} requests/s; fib({:.0f}) did not overlap the measurement",
                                 model_label(model), describe(baseline_spread(runs), "{:.0f}"),
                                 runs.front().interfere_n);
        return c;
    }
    const Judged j = judged(d, side, threshold);
    c.measured = fmt::format("{}: {} requests/s; its drop while fib({:.0f}) ran: {}{}",
                             model_label(model), describe(baseline_spread(runs), "{:.0f}"),
                             runs.front().interfere_n, describe(j.spread, "{:.1f}%"), k.note());
    c.verdict = j.verdict;
    c.figures = {{"drop while fib(N) ran", j.spread, "%"}};
    return c;
}

Claim gil_starves(const Results& r, const std::string& model) {
    return rate_drop_claim(
        r, model, Holds::above, 99, "gil-starves-tiny-requests",
        "Under the GIL, one long CPU-bound request cuts the rate of tiny requests by more than "
        "99% (perf2).",
        "holds if the tiny-request rate drops by more than 99% while fib(N) runs");
}

// The article's 'spam' in range(N): the other threads fall silent, not merely slow, and the
// stop signal waits until it ends. Measured once (rateprobe --interfere spam:N@T --sigint):
// the rate during it is none at all or it is not, and the stop waits for the rest of the
// instruction or it does not; the stops while a fib ran are beside it, for contrast.
Claim uninterruptible_instruction(const Results& r, const std::string& model) {
    constexpr double kSilent = 10;   // requests/s: a switch interval lets about 100 through
    constexpr double kWaited = 0.5;  // of the instruction's remaining time
    Claim c{
        "A single uninterruptible instruction ('spam' in range(N)) silences every other "
        "thread completely, and Control-C does nothing until it ends.",
        "",
        fmt::format(
            "holds if fewer than {:.0f} tiny requests/s are answered while it runs (a switch "
            "interval lets about 100 through) and "
            "SIGINT stops the server only after at least {:.0f}% of the "
            "instruction's remaining time",
            kSilent, kWaited * 100),
        Verdict::does_not_apply,
        {},
        "uninterruptible-instruction",
        kSilent,
        {}};
    const auto run = read_uninterruptible(r, model);
    if (!run) {
        c.measured = fmt::format("{}: not measured in this run", model_label(model));
        return c;
    }
    note_runs(c, std::vector{*run});
    const auto fib_stops = read_fib_sigint_stops(r, model);
    const std::string fib_stop = fib_stops.empty()
                                     ? std::string()
                                     : fmt::format("; while a fib ran it stopped in {}",
                                                   describe(spread_of(fib_stops), "{:.3f} s"));
    if (!run->during_rps) {
        c.measured =
            fmt::format("{}: the instruction did not overlap the measurement", model_label(model));
        return c;
    }
    if (!run->sigint_stop_s || !run->sigint_remaining_s) {
        c.measured = fmt::format(
            "{}: {:.0f} tiny requests/s (of {:.0f}) while 'spam' in "
            "range({:.0f}) ran; SIGINT {}",
            model_label(model), *run->during_rps, run->baseline_rps, run->spam,
            run->sigint_remaining_s ? "did not stop the server in the probe's wait" : "not timed");
        // Not silent is a difference already; silent without the stop is half the claim.
        if (*run->during_rps >= kSilent) c.verdict = Verdict::differs;
        return c;
    }
    const double waited = *run->sigint_stop_s / std::max(*run->sigint_remaining_s, 1e-3);
    c.measured = fmt::format(
        "{}: {:.0f} tiny requests/s (of {:.0f}) while 'spam' in range({:.0f}) ran; SIGINT "
        "stopped the server after {:.3f} s, with {:.3f} s of the instruction left{}",
        model_label(model), *run->during_rps, run->baseline_rps, run->spam, *run->sigint_stop_s,
        *run->sigint_remaining_s, fib_stop);
    const bool silent = *run->during_rps < kSilent, waits = waited >= kWaited;
    c.verdict = silent && waits ? Verdict::holds : Verdict::differs;
    c.figures = {point("tiny requests/s during the instruction", *run->during_rps, "requests/s"),
                 point("SIGINT to stop, during the instruction", *run->sigint_stop_s, "s")};
    if (!fib_stops.empty())
        c.figures.push_back({"SIGINT to stop, during a fib", spread_of(fib_stops), "s"});
    return c;
}

// Repetition by repetition, the model's tiny-request rate over the threads model's.
std::vector<double> rate_shares(const std::vector<RateRun>& model,
                                const std::vector<RateRun>& threads) {
    return paired(model, threads, [](const RateRun& m, const RateRun& t) {
        return t.baseline_rps > 0 ? m.baseline_rps / t.baseline_rps : 0.0;
    });
}

// A model's perf2 runs beside its server's threads model's, repetition by repetition, of the
// repetitions at full speed in both.
struct RatePairs {
    std::vector<RateRun> model, threads;
    Kept kept;
};
RatePairs rate_pairs(const Results& r, const std::string& model, const std::string& threads) {
    const auto m = read_rate_runs(r, model), t = read_rate_runs(r, threads);
    const Kept k = at_full_speed(HostSpeed(r), m, t);
    return {kept(m, k), kept(t, k), k};
}

Claim pool_costs_tiny_requests(const Results& r, const std::string& pool_model,
                               const std::string& threads_model) {
    const auto [pool, threads, k] = rate_pairs(r, pool_model, threads_model);
    std::vector<double> costs;
    for (double share : rate_shares(pool, threads)) costs.push_back(100 * (1 - share));
    const Judged j = judged(costs, Holds::at_least, 85);
    Claim c{
        "A process pool lowers the rate of tiny requests, by about 95% in the article, "
        "because every request travels to another process and back.",
        fmt::format("{}: {} requests/s against {} with {} computing inline: {} lower{}",
                    model_label(pool_model), describe(baseline_spread(pool), "{:.0f}"),
                    describe(baseline_spread(threads), "{:.0f}"), model_label(threads_model),
                    describe(j.spread, "{:.0f}%"), k.note()),
        "holds if the pool's rate is at least 85% below the same server's threads model's",
        j.verdict,
        {},
        "pool-costs-tiny-requests",
        85,
        {{"pool's rate below the threads model's", j.spread, "%"}}};
    note_runs(c, pool);
    note_runs(c, threads);
    return c;
}

Claim inline_model_rate(const Results& r, const std::string& model,
                        const std::string& threads_model, std::string id, std::string article,
                        const std::string& rule_name) {
    const auto [runs, threads, k] = rate_pairs(r, model, threads_model);
    const Judged j = judged(rate_shares(runs, threads), Holds::at_least, 0.8);
    Claim c{std::move(article),
            fmt::format("{}: {} requests/s, {} of {} {}{}", model_label(model),
                        describe(baseline_spread(runs), "{:.0f}"),
                        describe(percent(j.spread), "{:.0f}%"), threads_possessive(threads_model),
                        describe(baseline_spread(threads), "{:.0f}"), k.note()),
            fmt::format("holds if {} keeps at least 80% of the same server's threads model's rate",
                        rule_name),
            j.verdict,
            {},
            std::move(id),
            0.8,
            {{rule_name + "'s rate / the threads model's", j.spread, "ratio"}}};
    note_runs(c, runs);
    note_runs(c, threads);
    return c;
}

// Claims 9 and 10 on both servers: `model` computing small requests inline keeps its own
// server's threads model's rate.
Claim keeps_threads_rate(const Results& r, const std::string& model, const std::string& id,
                         const std::string& article) {
    return on_both_servers(r, model, [&](const std::string& name, const std::string& threads) {
        return inline_model_rate(r, name, threads, id, article, model);
    });
}

Claim bookkeeping_is_small(const Results& r, const std::vector<ThreadRun>& largest) {
    const ThreadRun& run = largest.front();
    const double descriptor_kib = read_stack_depths(r).front().descriptor_bytes / 1024;
    const double own =
        descriptor_kib + run.kernel_stack_per_task_kib + run.probe.pte_per_thread_kib;
    const double default_reservation_kib = 8192;
    return {
        "A thread's own bookkeeping is small (in Python under 200 bytes); the stack is what "
        "costs.",
        fmt::format("beyond its stack, a native thread costs {:.1f} KiB: glibc's descriptor "
                    "{:.1f} KiB, kernel stack {:.1f} KiB, page tables {:.1f} KiB ({} stacks)",
                    own, descriptor_kib, run.kernel_stack_per_task_kib,
                    run.probe.pte_per_thread_kib, stack_label(run.stack_bytes, run.default_stack)),
        "holds if that is under 1% of a default 8 MiB stack reservation (82 KiB); Python's "
        "200-byte object comes on top",
        holds_if(own < default_reservation_kib / 100),
        {run.name, "stackprobe"},
        "bookkeeping-is-small",
        default_reservation_kib / 100,
        {point("a thread's own cost beyond its stack", own, "KiB")}};
}

Claim default_stack_is_8mb(const ThreadRun& run) {
    const double vsz = run.probe.vsz_per_thread_kib;
    return {"By default each thread is given 8 MB of (virtual) memory for its stack.",
            fmt::format("one more thread at the default stack ({}) adds {:.1f} KiB of virtual "
                        "memory",
                        stack_label(run.stack_bytes, run.default_stack), vsz),
            "holds if one thread adds 8 MiB of virtual memory, within 1%",
            holds_if(std::abs(vsz - 8192) <= 8192 * 0.01),
            {run.name},
            "default-stack-is-8mb",
            8192,
            {point("virtual memory one thread adds", vsz, "KiB")}};
}

Claim thousand_threads_look_like_8gb(const ThreadRun& run) {
    const double added_vsz_gb =
        (run.probe.plateau_vsz_kib - run.probe.baseline_vsz_kib) * 1024 / 1e9;
    const double added_rss_mb =
        (run.probe.plateau_rss_kib - run.probe.baseline_rss_kib) * 1024 / 1e6;
    return {"With 1000 threads a program appears to use more than 8 GB.",
            fmt::format("{:.0f} threads at the default stack added {:.2f} GB of virtual memory "
                        "and {:.1f} MB resident",
                        run.connections, added_vsz_gb, added_rss_mb),
            "holds if the threads' virtual memory exceeds 8 GB (10^9 bytes)",
            holds_if(added_vsz_gb > 8),
            {run.name},
            "thousand-threads-look-like-8gb",
            8,
            {point("virtual memory the threads added", added_vsz_gb, "GB")}};
}

Claim memory_arrives_in_pages(const Paging& paging, const ThreadRun& default_run) {
    return {
        "Real memory arrives in page-sized chunks (typically 4096 bytes) as the stack is "
        "used.",
        fmt::format("resident stack grew in steps of {:.0f} B (page {:.0f} B) while recursing; "
                    "a default-stack thread is {:.1f} KiB resident of {:.0f} KiB reserved",
                    paging.resident_step_bytes, paging.page_bytes,
                    default_run.probe.rss_per_thread_kib, default_run.probe.vsz_per_thread_kib),
        "holds if resident memory grows in 4096-byte steps and a thread's resident size is "
        "under 1% of its stack",
        holds_if(paging.resident_step_bytes == 4096 && paging.page_bytes == 4096 &&
                 default_run.probe.rss_per_thread_kib < default_run.stack_bytes / 1024 * 0.01),
        {"stackprobe", default_run.name},
        "memory-arrives-in-pages",
        4096,
        {point("resident stack step", paging.resident_step_bytes, "B"),
         point("a thread's resident size", default_run.probe.rss_per_thread_kib, "KiB")}};
}

Claim no_swap_reserved(const Results& r, const ThreadRun& default_run) {
    const auto& limits = r.at(default_run.name, "/context/limits");
    for (std::size_t i = 0; i < limits.size(); ++i) {
        const std::string at = fmt::format("/context/limits/{}", i);
        if (r.text(default_run.name, at + "/limit") != "commit limit") continue;
        const bool enforced = r.flag(default_run.name, at + "/enforced");
        // The probe writes a note only where the limit is not enforced: it says why.
        return {"Linux reserves no swap for thread stacks unless configured to.",
                fmt::format("Committed_AS grew {:.0f} KiB per default-stack thread; {}",
                            default_run.commit_per_task_kib,
                            enforced ? "the commit limit is enforced (vm.overcommit_memory 2)"
                                     : r.text(default_run.name, at + "/note")),
                "holds if the commit limit is not enforced, so a stack's commit charge reserves "
                "nothing",
                holds_if(!enforced),
                {default_run.name},
                "no-swap-reserved",
                std::nullopt,
                {point("commit charge per default-stack thread", default_run.commit_per_task_kib,
                       "KiB")}};
    }
    throw ResultsError(fmt::format("{}/{}.json: /context/limits has no 'commit limit' reading",
                                   r.origin(), default_run.name));
}

Claim recursion_depth(const std::vector<StackDepth>& depths) {
    const StackDepth& deepest = depths.back();
    return {"Blowing the stack on purpose takes nearly 15,000 levels of recursion.",
            fmt::format("{} thread stack: {:.0f} levels of {:.0f} B frames (the article's count "
                        "is Python's, whose frames are bigger)",
                        deepest.label, deepest.depth, deepest.frame_bytes),
            "holds if the depth is within 20% of 15,000",
            holds_if(std::abs(deepest.depth - 15000) <= 3000),
            {"stackprobe"},
            "recursion-depth",
            15000,
            {point("levels of recursion", deepest.depth, "levels")}};
}

Claim recursion_eats_stack(const std::vector<StackDepth>& depths) {
    // Levels per KiB should be constant: the stack is spent on frames and nothing else.
    double lo = INFINITY, hi = 0;
    std::string spread;
    for (const auto& d : depths) {
        if (d.stack_bytes < 64 * 1024) continue;  // small stacks lose a share to the descriptor
        const double per_kib = d.depth / (static_cast<double>(d.stack_bytes) / 1024);
        lo = std::min(lo, per_kib);
        hi = std::max(hi, per_kib);
        spread += fmt::format("{}{}: {:.0f}", spread.empty() ? "" : ", ", d.label, d.depth);
    }
    return {"Deep recursion is what uses up a thread's stack.",
            fmt::format("levels until the guard page: {} ({:.2f} to {:.2f} levels per KiB)", spread,
                        lo, hi),
            "holds if depth grows in proportion to the stack (levels per KiB within 10%, "
            "64 KiB and up)",
            holds_if(hi > 0 && hi <= lo * 1.1),
            {"stackprobe"},
            "recursion-eats-stack",
            1.1,
            {point("most over fewest levels per KiB", lo > 0 ? hi / lo : 0, "ratio")}};
}

Claim smaller_stacks(const ThreadRun& smallest, const std::vector<StackDepth>& depths) {
    return {
        "A much smaller thread stack can be set (threading.stack_size()).",
        fmt::format("at {} a thread adds {:.1f} KiB of virtual memory; recursion reaches {:.0f} "
                    "levels in a {} stack",
                    stack_label(smallest.stack_bytes, smallest.default_stack),
                    smallest.probe.vsz_per_thread_kib, depths.front().depth, depths.front().label),
        "holds if the smallest stack's thread adds at most its stack plus a 4 KiB guard page "
        "(and 1 KiB slack)",
        holds_if(smallest.probe.vsz_per_thread_kib <=
                 static_cast<double>(smallest.stack_bytes) / 1024 + 5),
        {smallest.name, "stackprobe"},
        "smaller-stacks",
        static_cast<double>(smallest.stack_bytes) / 1024 + 5,
        {point("virtual memory one thread adds", smallest.probe.vsz_per_thread_kib, "KiB")}};
}

Claim threads_are_capped(const Results& r) {
    const auto limits = read_thread_limits(r, "limitprobe");
    std::string measured;
    bool all_named = true, all_confirmed = true, any_refuted = false;
    for (const auto& l : limits) {
        measured += fmt::format(
            "{}{}: {:.0f} threads, {} ({})", measured.empty() ? "" : "; ", l.stack, l.threads,
            l.binding_limit.empty() ? "no limit named" : l.binding_limit, l.stopped_by);
        if (l.forecast_threads)
            measured += fmt::format(", forecast {:.0f} by {}{}", *l.forecast_threads,
                                    l.forecast_binding_limit,
                                    !l.forecast_confirmed   ? ""
                                    : *l.forecast_confirmed ? " (agrees)"
                                                            : " (differs)");
        all_named = all_named && l.stopped_by == "pthread_create failed" &&
                    !l.binding_limit.empty() && l.binding_limit != "unknown";
        all_confirmed = all_confirmed && l.forecast_confirmed.value_or(false);
        any_refuted = any_refuted || !l.forecast_confirmed.value_or(true);
    }
    Claim c{"Systems place an upper limit on the number of threads a process or user can create.",
            measured,
            "holds if at every stack size a limit binds: the forecast names it and the search "
            "bears it out, at the limit or (for a ceiling the whole machine shares) from the "
            "safety margin; results without a forecast: thread creation failed and a limit was "
            "named",
            holds_if(all_confirmed || all_named),
            {"limitprobe"},
            "threads-are-capped"};
    if (any_refuted)
        c.verdict = Verdict::differs;
    else if (!all_confirmed && !all_named)
        c.verdict = Verdict::does_not_apply;
    return c;
}

Claim tens_of_thousands(const Results& r) {
    const ThreadLimit limit = read_thread_limits(r, "limitprobe-connections").front();
    const ScaleRun threads = read_scale(r, "threads");
    const ScaleRun epoll = read_scale(r, "epoll");
    const double ratio = threads.total_kib_per_connection() / epoll.total_kib_per_connection();
    // The kernel's socket is the same in every model: left out, the ratio flatters epoll.
    auto socket = [](const ScaleRun& s) {
        return s.socket_kernel_kib_per_connection
                   ? fmt::format(", {:.1f} socket kernel memory",
                                 *s.socket_kernel_kib_per_connection)
                   : std::string(", socket kernel memory not measured");
    };
    return {"Tens of thousands of open connections are impractical with a thread per connection.",
            fmt::format("thread per connection stopped at {:.0f} connections ({}); at {:.0f} "
                        "connections the threads server cost {:.1f} KiB per connection ({:.1f} "
                        "user, {:.1f} kernel stack{}), the epoll server {:.1f} KiB ({:.1f} "
                        "user{}) (x{:.1f})",
                        limit.threads, stop_reason(limit), threads.connections,
                        threads.total_kib_per_connection(), threads.user_kib_per_connection,
                        threads.kernel_stack_kib_per_connection, socket(threads),
                        epoll.total_kib_per_connection(), epoll.user_kib_per_connection,
                        socket(epoll), ratio),
            "holds if a thread per connection stops below 20,000 connections or costs at least "
            "10x the epoll server's whole memory per connection (user, kernel stack and the "
            "socket's kernel memory)",
            holds_if(limit.threads < 20000 || ratio >= 10),
            {"limitprobe-connections", "scale-threads", "scale-epoll"},
            "tens-of-thousands",
            10,
            {point("threads model's memory per connection over epoll's", ratio, "x"),
             point("connections a thread each reached", limit.threads, "connections")}};
}

}  // namespace

std::optional<GilFigures> gil_figures(const Results& r, const std::string& model) {
    if (!perf2_measured(r, model) || !perf1_measured(r, model)) return std::nullopt;
    GilFigures g;
    const LatencyRatio l = latency_ratio(r, model);
    g.perf1_n = l.one.front().n;
    g.perf1_ratio = spread_of(l.ratios);
    const auto measured = read_rate_runs(r, model);
    const auto runs = kept(measured, at_full_speed(HostSpeed(r), measured));
    g.perf2_n = runs.front().interfere_n;
    if (const auto d = drops(runs); !d.empty()) g.perf2_drop_percent = spread_of(d);
    std::vector<double> during;
    for (const auto& run : runs)
        if (run.during_rps) during.push_back(*run.during_rps);
    if (!during.empty()) g.perf2_rate_during = spread_of(during);
    return g;
}

// The stack claims on real Python threads (probes/python/python_stacks.py).
const NativeFigure kCppThread{"a C++ thread", "a C++ thread", "C++ thread"};
// What a Python thread may map besides its stack and guard page: the interpreter's own
// per-thread mappings: 16 KiB on CPython 3.11 here, the first chunk of its frame stack.
constexpr double kPythonThreadSlackKib = 32;

std::string python_depth(const PythonDepth& d, double limit) {
    if (d.crashed())
        return fmt::format("{:.0f} levels, then {} (the C stack's guard page)", d.depth,
                           d.stopped_by == "signal 11" ? "SIGSEGV" : d.stopped_by);
    return fmt::format("{:.0f} levels, then RecursionError{}", d.depth,
                       d.depth + 100 >= limit ? fmt::format(" (the limit, raised to {:.0f})", limit)
                                              : std::string());
}

Claim cpython_recursion_depth(const PythonStacks& p) {
    const PythonStack& d = p.stacks.front();
    return {
        "Blowing the stack on purpose takes nearly 15,000 levels of recursion.",
        fmt::format("CPython {}, a thread with the default {} stack: a function calling "
                    "itself through a C function (sum over map), {}; calling itself "
                    "directly, {}{}",
                    p.version, stack_label(static_cast<std::uint64_t>(d.stack_bytes), false),
                    python_depth(d.through_c, p.recursion_limit),
                    python_depth(d.python, p.recursion_limit),
                    d.python.crashed() ? std::string()
                                       : " (since Python 3.11 a Python-to-Python call takes no "
                                         "C stack; in the article's Python 3.3 every call did)"),
        "holds if the depth through C functions, where each level takes C stack as every "
        "Python call did in the article's Python, is within 20% of 15,000",
        holds_if(std::abs(d.through_c.depth - 15000) <= 3000),
        {"python-stacks"},
        "recursion-depth",
        15000,
        {point("levels of recursion through C", d.through_c.depth, "levels")}};
}

Claim cpython_smaller_stacks(const PythonStacks& p) {
    const PythonStack& def = p.stacks.front();
    const PythonStack* small = nullptr;
    for (const auto& s : p.stacks)
        if (!s.default_stack && (!small || s.stack_bytes < small->stack_bytes)) small = &s;
    Claim c{"A much smaller thread stack can be set (threading.stack_size()).",
            "",
            fmt::format("holds if a Python thread after threading.stack_size(S) adds at most S "
                        "plus a 4 KiB guard page and {:.0f} KiB for the interpreter's own "
                        "per-thread mappings",
                        kPythonThreadSlackKib),
            Verdict::does_not_apply,
            {"python-stacks"},
            "smaller-stacks"};
    if (!small || !small->thread_vsz_kib) {
        c.measured = fmt::format("CPython {}: no thread's virtual memory was measured", p.version);
        return c;
    }
    const double allowed = small->stack_bytes / 1024 + 4 + kPythonThreadSlackKib;
    c.measured = fmt::format(
        "CPython {}: after threading.stack_size({}) a thread adds {:.0f} KiB of virtual memory "
        "({:.0f} KiB at the default {}); recursing through C functions it went {} ({:.0f} at the "
        "default)",
        p.version, stack_label(static_cast<std::uint64_t>(small->stack_bytes), false),
        *small->thread_vsz_kib, def.thread_vsz_kib.value_or(0),
        stack_label(static_cast<std::uint64_t>(def.stack_bytes), false),
        python_depth(small->through_c, p.recursion_limit), def.through_c.depth);
    c.verdict = holds_if(*small->thread_vsz_kib <= allowed);
    c.threshold = allowed;
    c.figures = {point("virtual memory one Python thread adds", *small->thread_vsz_kib, "KiB")};
    return c;
}

// A claim about N threads judged on a run this machine stopped short of N (a pids cgroup, a
// user's process limit) does not apply: the run is not the article's experiment, and its
// per-thread figures carry the threads that came and went. Said so, with what it measured.
Claim unless_cut_short(Claim c, const ThreadRun& run) {
    if (run.connections >= run.threads_requested) return c;
    c.verdict = Verdict::does_not_apply;
    c.measured = fmt::format(
        "the run stopped at {:.0f} of {:.0f} threads ({}), so it is not the "
        "article's experiment; measured there: {}",
        run.connections, run.threads_requested,
        run.stopped_by.empty() ? "a failure" : run.stopped_by, c.measured);
    return c;
}

std::vector<Claim> evaluate_claims(const Results& r) {
    const auto sweep = read_sweep(r);
    const auto largest = largest_per_stack(sweep);
    const auto depths = read_stack_depths(r);
    const ThreadRun default_1000 = sweep_run(r, "default", 1000);
    const bool cpython = cpython_measured(r);
    const auto python_stacks = read_python_stacks(r);
    return {
        serialisation_claim(r, "iterative", Holds::at_least, "one-client-at-a-time",
                            "A single-threaded server serves one client at a time: a second "
                            "client waits until the first disconnects.",
                            "holds if the second client's first reply waited at least 80% of the "
                            "first client's session"),
        serialisation_claim(r, "threads", Holds::below, "threads-serve-many",
                            "With a thread per connection, the server serves many clients at "
                            "once.",
                            "holds if the second client was answered before 80% of the first "
                            "client's session was over"),
        judged_on_cpython(
            gil_doubles_latency(r, "gil"),
            cpython ? std::optional(gil_doubles_latency(r, kCpythonThreads)) : std::nullopt),
        parallel_latency(r, "threads", "threads-run-in-parallel",
                         "Native threads without a GIL run the two clients in parallel: latency "
                         "does not double."),
        judged_on_cpython(gil_starves(r, "gil"),
                          cpython ? std::optional(gil_starves(r, kCpythonThreads)) : std::nullopt),
        parallel_latency(r, "pool", "pool-uses-every-core",
                         "With a process pool, CPU-bound requests from two clients use every core "
                         "(perf1 scales)."),
        on_both_servers(r, "pool",
                        [&](const std::string& pool, const std::string& threads) {
                            return pool_costs_tiny_requests(r, pool, threads);
                        }),
        on_both_servers(r, "pool",
                        [&](const std::string& pool, const std::string&) {
                            return rate_drop_claim(
                                r, pool, Holds::at_most, 20, "pool-holds-steady",
                                "...but with a pool the rate holds steady while a long request "
                                "runs.",
                                "holds if the pool's tiny-request rate drops by at most 20% while "
                                "fib(N) runs");
                        }),
        keeps_threads_rate(r, "threshold", "threshold-avoids-pool-cost",
                           "A threshold that sends only big requests to the pool avoids most of "
                           "the pool's cost."),
        keeps_threads_rate(r, "prefork", "prefork-no-overhead",
                           "A pre-forked server has no communication overhead for each request."),
        bookkeeping_is_small(r, largest),
        unless_cut_short(default_stack_is_8mb(default_1000), default_1000),
        unless_cut_short(thousand_threads_look_like_8gb(default_1000), default_1000),
        unless_cut_short(memory_arrives_in_pages(read_paging(r), default_1000), default_1000),
        unless_cut_short(no_swap_reserved(r, default_1000), default_1000),
        judged_on_cpython(
            recursion_depth(depths),
            python_stacks ? std::optional(cpython_recursion_depth(*python_stacks)) : std::nullopt,
            kCppThread),
        recursion_eats_stack(depths),
        judged_on_cpython(
            smaller_stacks(largest.front(), depths),
            python_stacks ? std::optional(cpython_smaller_stacks(*python_stacks)) : std::nullopt,
            kCppThread),
        threads_are_capped(r),
        tens_of_thousands(r),
        judged_on_cpython(uninterruptible_instruction(r, "gil"),
                          read_uninterruptible(r, kCpythonThreads)
                              ? std::optional(uninterruptible_instruction(r, kCpythonThreads))
                              : std::nullopt),
    };
}

}  // namespace tp::report
