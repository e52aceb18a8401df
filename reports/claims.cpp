#include "claims.hpp"

#include <fmt/format.h>

#include <cmath>

#include "probe_results.hpp"

namespace tp::report {
namespace {

Verdict holds_if(bool condition) {
    return condition ? Verdict::holds : Verdict::differs;
}

double processing_units(const Results& r) {
    return r.number("latency-threads-2", "/context/topology/pus");
}

Claim one_client_at_a_time(const Results& r) {
    const Serialisation s = read_serialisation(read_latency(r, "iterative", 2));
    return {
        "A single-threaded server serves one client at a time: a second client waits until "
        "the first disconnects.",
        fmt::format("iterative server, 2 clients: the second client's first reply took "
                    "{:.0f} ms; the first client's whole session took {:.0f} ms",
                    s.second_first_reply_ms, s.first_session_ms),
        "holds if the second client's first reply waited at least 80% of the first "
        "client's session",
        holds_if(s.serialised()),
        {"latency-iterative-2"}};
}

Claim threads_serve_many(const Results& r) {
    const Serialisation s = read_serialisation(read_latency(r, "threads", 2));
    return {"With a thread per connection, the server serves many clients at once.",
            fmt::format("threads server, 2 clients: the second client's first reply took "
                        "{:.0f} ms, while the first client's session took {:.0f} ms",
                        s.second_first_reply_ms, s.first_session_ms),
            "holds if the second client was answered before 80% of the first client's session "
            "was over",
            holds_if(!s.serialised()),
            {"latency-threads-2"}};
}

double latency_ratio(const Results& r, const std::string& model) {
    return read_latency(r, model, 2).p50_ms / read_latency(r, model, 1).p50_ms;
}

Claim gil_doubles_latency(const Results& r) {
    const LatencyRun one = read_latency(r, "gil", 1);
    const double ratio = latency_ratio(r, "gil");
    return {
        "Two clients making CPU-bound requests double each other's latency under the GIL, "
        "even on several cores (perf1).",
        fmt::format("gil model, fib({:.0f}): median latency {:.1f} ms with 1 client, {:.1f} "
                    "ms with 2 (x{:.2f})",
                    one.n, one.p50_ms, read_latency(r, "gil", 2).p50_ms, ratio),
        "holds if 2 clients' median latency is at least 1.7x one client's",
        holds_if(ratio >= 1.7),
        {"latency-gil-1", "latency-gil-2"}};
}

Claim native_threads_do_not_double(const Results& r) {
    const double ratio = latency_ratio(r, "threads");
    const double pus = processing_units(r);
    Claim c{
        "Native threads without a GIL run the two clients in parallel: latency does not "
        "double.",
        fmt::format("threads model: median latency x{:.2f} from 1 client to 2, on {:.0f} "
                    "processing units",
                    ratio, pus),
        "holds if the ratio is at most 1.3 (needs 2 or more processing units)",
        holds_if(ratio <= 1.3),
        {"latency-threads-1", "latency-threads-2"}};
    if (pus < 2) c.verdict = Verdict::does_not_apply;
    return c;
}

Claim gil_starves_tiny_requests(const Results& r) {
    const RateRun gil = read_rate(r, "gil");
    Claim c{
        "Under the GIL, one long CPU-bound request cuts the rate of tiny requests by more "
        "than 99% (perf2).",
        "",
        "holds if the tiny-request rate drops by more than 99% while fib(N) runs",
        Verdict::does_not_apply,
        {"rate-gil"}};
    if (!gil.drop_percent) {
        c.measured = fmt::format(
            "gil model: {:.0f} requests/s; fib({:.0f}) did not overlap the "
            "measurement",
            gil.baseline_rps, gil.interfere_n);
        return c;
    }
    c.measured = fmt::format(
        "gil model: {:.0f} requests/s, {:.0f} while fib({:.0f}) ran: "
        "{:+.1f}%",
        gil.baseline_rps, *gil.during_rps, gil.interfere_n, -*gil.drop_percent);
    c.verdict = holds_if(*gil.drop_percent > 99);
    return c;
}

Claim pool_costs_tiny_requests(const Results& r) {
    const RateRun pool = read_rate(r, "pool");
    const RateRun threads = read_rate(r, "threads");
    const double cost = 100 * (1 - pool.baseline_rps / threads.baseline_rps);
    return {
        "A process pool lowers the rate of tiny requests, by about 95% in the article, "
        "because every request travels to another process and back.",
        fmt::format("pool: {:.0f} requests/s against {:.0f} with threads computing inline: "
                    "{:+.0f}%",
                    pool.baseline_rps, threads.baseline_rps, -cost),
        "holds if the pool's rate is at least 85% below the threads model's",
        holds_if(cost >= 85),
        {"rate-pool", "rate-threads"}};
}

Claim pool_holds_steady(const Results& r) {
    const RateRun pool = read_rate(r, "pool");
    Claim c{"...but with a pool the rate holds steady while a long request runs.",
            "",
            "holds if the pool's tiny-request rate drops by at most 20% while fib(N) runs",
            Verdict::does_not_apply,
            {"rate-pool"}};
    if (!pool.drop_percent) {
        c.measured =
            fmt::format("pool: fib({:.0f}) did not overlap the measurement", pool.interfere_n);
        return c;
    }
    c.measured =
        fmt::format("pool: {:.0f} requests/s, {:.0f} while fib({:.0f}) ran: {:+.1f}%",
                    pool.baseline_rps, *pool.during_rps, pool.interfere_n, -*pool.drop_percent);
    c.verdict = holds_if(*pool.drop_percent <= 20);
    return c;
}

Claim inline_model_rate(const Results& r, const std::string& model, std::string article) {
    const RateRun run = read_rate(r, model);
    const RateRun threads = read_rate(r, "threads");
    const double share = run.baseline_rps / threads.baseline_rps;
    return {std::move(article),
            fmt::format("{}: {:.0f} requests/s, {:.0f}% of the threads model's {:.0f}", model,
                        run.baseline_rps, 100 * share, threads.baseline_rps),
            fmt::format("holds if {} keeps at least 80% of the threads model's rate", model),
            holds_if(share >= 0.8),
            {"rate-" + model, "rate-threads"}};
}

Claim pool_uses_every_core(const Results& r) {
    const double ratio = latency_ratio(r, "pool");
    Claim c{
        "With a process pool, CPU-bound requests from two clients use every core (perf1 "
        "scales).",
        fmt::format("pool: median latency x{:.2f} from 1 client to 2, on {:.0f} processing "
                    "units",
                    ratio, processing_units(r)),
        "holds if the ratio is at most 1.3 (needs 2 or more processing units)",
        holds_if(ratio <= 1.3),
        {"latency-pool-1", "latency-pool-2"}};
    if (processing_units(r) < 2) c.verdict = Verdict::does_not_apply;
    return c;
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
        {run.name, "stackprobe"}};
}

Claim default_stack_is_8mb(const ThreadRun& run) {
    const double vsz = run.probe.vsz_per_thread_kib;
    return {"By default each thread is given 8 MB of (virtual) memory for its stack.",
            fmt::format("one more thread at the default stack ({}) adds {:.1f} KiB of virtual "
                        "memory",
                        stack_label(run.stack_bytes, run.default_stack), vsz),
            "holds if one thread adds 8 MiB of virtual memory, within 1%",
            holds_if(std::abs(vsz - 8192) <= 8192 * 0.01),
            {run.name}};
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
            {run.name}};
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
        {"stackprobe", default_run.name}};
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
                {default_run.name}};
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
            {"stackprobe"}};
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
            {"stackprobe"}};
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
        {smallest.name, "stackprobe"}};
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
            {"limitprobe"}};
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
    return {"Tens of thousands of open connections are impractical with a thread per connection.",
            fmt::format("thread per connection stopped at {:.0f} connections ({}); at {:.0f} "
                        "connections the threads server cost {:.1f} KiB per connection ({:.1f} "
                        "user, {:.1f} kernel stack), the epoll server {:.1f} KiB (x{:.0f})",
                        limit.threads, limit.binding_limit, threads.connections,
                        threads.total_kib_per_connection(), threads.user_kib_per_connection,
                        threads.kernel_stack_kib_per_connection, epoll.total_kib_per_connection(),
                        ratio),
            "holds if a thread per connection stops below 20,000 connections or costs at least "
            "10x the epoll server's memory per connection",
            holds_if(limit.threads < 20000 || ratio >= 10),
            {"limitprobe-connections", "scale-threads", "scale-epoll"}};
}

}  // namespace

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::holds:
            return "holds";
        case Verdict::differs:
            return "differs";
        case Verdict::does_not_apply:
            return "does not apply";
    }
    return "?";
}

std::vector<Claim> evaluate_claims(const Results& r) {
    const auto sweep = read_sweep(r);
    const auto largest = largest_per_stack(sweep);
    const auto depths = read_stack_depths(r);
    const ThreadRun default_1000 = sweep_run(r, "default", 1000);
    return {
        one_client_at_a_time(r),
        threads_serve_many(r),
        gil_doubles_latency(r),
        native_threads_do_not_double(r),
        gil_starves_tiny_requests(r),
        pool_uses_every_core(r),
        pool_costs_tiny_requests(r),
        pool_holds_steady(r),
        inline_model_rate(r, "threshold",
                          "A threshold that sends only big requests to the pool avoids most of "
                          "the pool's cost."),
        inline_model_rate(r, "prefork",
                          "A pre-forked server has no communication overhead for each request."),
        bookkeeping_is_small(r, largest),
        default_stack_is_8mb(default_1000),
        thousand_threads_look_like_8gb(default_1000),
        memory_arrives_in_pages(read_paging(r), default_1000),
        no_swap_reserved(r, default_1000),
        recursion_depth(depths),
        recursion_eats_stack(depths),
        smaller_stacks(largest.front(), depths),
        threads_are_capped(r),
        tens_of_thousands(r),
    };
}

}  // namespace tp::report
