// What each probe's result files say, read into the figures the report is made of:
// threadprobe's sweep and scale runs, latencyprobe's and rateprobe's runs per model,
// stackprobe's depths and paging curve, limitprobe's limits, each in the shape the claims,
// tables and plots need. Nothing here is typed in; every value comes from a result file
// through Results, which names the file and key it misses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "results.hpp"

namespace tp::report {

// The concurrency models, in the article's order.
const std::vector<std::string>& article_models();
// Whether the results hold experiment NAME, once or as repetitions NAME.rK.
bool has_experiment(const Results& results, const std::string& name);
// Whether they hold MODEL's perf1 with one client and with two (latency-MODEL-1, -2), and its
// perf2 (rate-MODEL): a quick run measures only what its claims judge.
bool perf1_measured(const Results& results, const std::string& model);
bool perf2_measured(const Results& results, const std::string& model);
// The Python server's MODEL as scripts/reproduce names its results: python-MODEL.
std::string cpython_model(const std::string& model);
bool is_cpython_model(const std::string& name);
// The Python server's models whose perf1 or perf2 these results hold, in the article's order,
// named as their results are (python-threads, python-pool, ...).
std::vector<std::string> measured_cpython_models(const Results& results);
// "CPython threads" for the Python server's python-threads; fibserver's models as named.
std::string model_display_name(const std::string& model);

// One process's memory at the baseline and at the plateau of a threadprobe run (KiB).
struct SideMemory {
    double baseline_vsz_kib = 0, baseline_rss_kib = 0, baseline_pte_kib = 0;
    double plateau_vsz_kib = 0, plateau_rss_kib = 0, plateau_pte_kib = 0;
    double threads_added = 0;
    double vsz_per_thread_kib = 0, rss_per_thread_kib = 0, pte_per_thread_kib = 0;
};

// One threadprobe run: N connection threads at one stack size.
struct ThreadRun {
    std::string name;  // the result file, without .json
    std::uint64_t stack_bytes = 0;
    bool default_stack = false;
    double connections = 0;
    double threads_requested = 0;
    // What stopped it short of the threads it asked for ("pids cgroup", "RLIMIT_NPROC", the
    // error where no limit was near); empty for a run that made them all.
    std::string stopped_by;
    SideMemory probe, server;
    double kernel_stack_per_task_kib = 0;
    double commit_per_task_kib = 0;
    bool other_activity = false;  // the machine's task count moved by more than the probe's
};

std::string stack_label(std::uint64_t stack_bytes, bool default_stack);

ThreadRun read_thread_run(const Results& results, const std::string& name);
// Every "threadprobe-*" run, ordered by stack size, then connections.
std::vector<ThreadRun> read_sweep(const Results& results);
// The run with the most connections for each stack size, in stack order.
std::vector<ThreadRun> largest_per_stack(const std::vector<ThreadRun>& sweep);
// The sweep's run at `stack` (as scripts/reproduce names it: 64k, default) with exactly
// `connections`; throws naming the file when that run is missing.
ThreadRun sweep_run(const Results& results, const std::string& stack, int connections);

// Server memory per connection at the scale run: user memory (RSS + page tables) from the
// server's own /proc, kernel stack per task the server added, and the slab memory of the
// server's socket (one connection end; results from before slab readings have none).
struct ScaleRun {
    std::string model;
    double connections = 0;
    double server_threads_added = 0;
    double user_kib_per_connection = 0;
    double kernel_stack_kib_per_connection = 0;
    std::optional<double> socket_kernel_kib_per_connection;
    std::string socket_kernel_source;  // "/proc/slabinfo" or "/proc/meminfo Slab"
    double total_kib_per_connection() const {
        return user_kib_per_connection + kernel_stack_kib_per_connection +
               socket_kernel_kib_per_connection.value_or(0);
    }
};
ScaleRun read_scale(const Results& results, const std::string& model);

// The result files of one experiment: NAME where it ran once, else its repetitions NAME.r1,
// NAME.r2, ... in order. Throws naming NAME when there is neither.
std::vector<std::string> repetitions(const Results& results, const std::string& name);

// The host's speed around a latencyprobe or rateprobe run (its speed_checks): each PU timed
// computing a short fib just before and just after it. A host sharing its virtual CPUs runs
// one at about half speed for seconds at a time, unseen in /proc/stat.
struct SpeedChecks {
    std::vector<double> fib_ms;  // every PU's, before and after
    double slowest_ms() const;   // 0 for none
};
// The checks of the PUs run NAME computed on: its pinned PU where it had one (--placement
// one-pu), else every PU; none in results from before the checks.
SpeedChecks read_speed_checks(const Results& results, const std::string& name);

// How fast the host let the machine compute around each performance run, against the fastest
// any PU computed the check in any performance run of these results (the machine at full
// speed). A repetition around which a PU it computed on ran below kFull of that is left out of
// the claims' figures.
class HostSpeed {
  public:
    static constexpr double kFull = 0.8;

    explicit HostSpeed(const Results& results);
    // The fastest check's time; nullopt where no run has checks.
    std::optional<double> full_speed_ms() const { return full_ms_; }
    // The share of full speed the slowest PU had around a run; 1 where it was not checked.
    double share(const SpeedChecks& checks) const;

  private:
    std::optional<double> full_ms_;
};

struct LatencyRun {
    std::string name;  // the result file, without .json
    std::string model;
    int clients = 0;
    double n = 0;
    double p50_ms = 0;  // of every client's requests but its first (the warm-up)
    // Each client's median alone (its first request left out too), the smaller: with two
    // clients, whether the server made them wait for each other shows in both, while a host
    // slowing the PU one of them computed on shows in that one alone.
    double faster_client_p50_ms = 0;
    std::vector<std::vector<double>> latencies_ms;  // per client, in order
    std::optional<double> other_cores;  // work other than the probe's while it ran, in cores
    SpeedChecks speed;
    // With 2 clients or more: how much faster that many threads computed fib together than
    // one alone, just before (about 2 on two cores, 1 on SMT siblings of one).
    std::optional<double> parallel_speedup;
    // That check's times, just before and (where measured) just after the clients ran.
    struct ParallelCheck {
        double threads = 0, one_ms = 0, together_ms = 0;
    };
    std::vector<ParallelCheck> parallel_checks;
};
// Every repetition of latency-MODEL-CLIENTS, in order; the first alone for the figures.
std::vector<LatencyRun> read_latency_runs(const Results& results, const std::string& model,
                                          int clients);
LatencyRun read_latency(const Results& results, const std::string& model, int clients);

// How long the client served second waited for its first reply, against the whole session
// of the client served first: a server that serves one client at a time makes the first
// at least as long as the second.
struct Serialisation {
    double second_first_reply_ms = 0;
    double first_session_ms = 0;
    bool serialised() const { return second_first_reply_ms >= 0.8 * first_session_ms; }
};
Serialisation read_serialisation(const LatencyRun& two_clients);

struct RatePoint {
    double t_s = 0;
    double rps = 0;
};
struct RateRun {
    std::string name;  // the result file, without .json
    std::string model;
    std::optional<double> other_cores;  // work other than the probe's while it ran, in cores
    SpeedChecks speed;
    double interfere_n = 0;
    double baseline_rps = 0;
    std::optional<double> during_rps, drop_percent;
    double window_start_s = 0;
    std::optional<double> window_end_s;  // none: the long request outlived the run
    double duration_s = 0;
    std::vector<RatePoint> timeline;  // requests/s between successive readings
};
// Every repetition of rate-MODEL, in order; the first alone for the figures.
std::vector<RateRun> read_rate_runs(const Results& results, const std::string& model);
RateRun read_rate(const Results& results, const std::string& model);

// The article's uninterruptible instruction in place of the long fib (spam-MODEL: rateprobe
// --interfere spam:N@T --sigint), and the SIGINT it delays.
struct UninterruptibleRun {
    std::string name;
    std::optional<double> other_cores;
    double spam = 0;  // N of 'spam' in range(N)
    double baseline_rps = 0;
    std::optional<double> during_rps;
    // SIGINT while it ran again: how long the server took to stop, and how much of the
    // instruction was left to run when the signal went (both empty where not measured).
    std::optional<double> sigint_stop_s, sigint_remaining_s;
};
// Empty where this run did not measure it.
std::optional<UninterruptibleRun> read_uninterruptible(const Results& results,
                                                       const std::string& model);
// The SIGINT stop times of rate-MODEL's repetitions that measured one (a fib running).
std::vector<double> read_fib_sigint_stops(const Results& results, const std::string& model);

struct StackDepth {
    std::string label;
    std::uint64_t stack_bytes = 0;
    double depth = 0, frame_bytes = 0, usable_ratio = 0, above_first_frame_bytes = 0;
    double descriptor_bytes = 0;
    std::string ended_by;
};
std::vector<StackDepth> read_stack_depths(const Results& results);

// probes/python/python_stacks.py under this run's python3: per thread stack size (the default
// first), what one more Python thread reserves and how deep a Python function recursed in it,
// calling itself directly and through a C function.
struct PythonDepth {
    double depth = 0;
    std::string stopped_by;  // "RecursionError", "signal 11"
    bool crashed() const { return stopped_by.rfind("signal", 0) == 0; }
};
struct PythonStack {
    double stack_bytes = 0;
    bool default_stack = false;
    std::optional<double> thread_vsz_kib;
    PythonDepth python, through_c;
};
struct PythonStacks {
    std::string version;  // "3.11.7"
    double recursion_limit = 0;
    std::vector<PythonStack> stacks;  // the default first
};
// nullopt where this run has no python-stacks.json (no python3).
std::optional<PythonStacks> read_python_stacks(const Results& results);

// stackprobe's paging curve: the thread stack's resident pages, counted with mincore(),
// against recursion depth.
struct PagingSample {
    double depth_kib = 0;
    double resident_kib = 0;
};
struct Paging {
    double page_bytes = 0, resident_step_bytes = 0, stack_bytes = 0;
    std::vector<PagingSample> samples;
};
Paging read_paging(const Results& results);

struct ThreadLimit {
    std::string stack;
    double threads = 0;
    std::string stopped_by, binding_limit, evidence;
    // The forecast for this stack size and whether the search bore it out (at the limit, or
    // from the safety margin); absent in results from before the forecast, null where the
    // search could not say (a cap, a stop).
    std::optional<double> forecast_threads;
    std::string forecast_binding_limit;
    std::optional<bool> forecast_confirmed;
};
std::vector<ThreadLimit> read_thread_limits(const Results& results, const std::string& name);
// What stopped a search: the limit it met, or (the safety margin) the limit the forecast says
// it was approaching: "safety margin, short of pid_max at 16191".
std::string stop_reason(const ThreadLimit& l);

// limitprobe's forecast for one stack size: every enforced limit's headroom in threads.
struct LimitHeadroom {
    std::string limit;
    double headroom_threads = 0;
};
struct StackForecastRow {
    std::string stack;
    double threads = 0;
    std::string binding_limit;
    std::vector<LimitHeadroom> limits;  // enforced, with a ceiling
};
// Empty for results from before the forecast.
std::vector<StackForecastRow> read_forecast(const Results& results, const std::string& name);

// A live server inspected by `threadprobe --pid` while it held connections: where its
// memory goes and how deep its threads' stacks have ever gone.
struct LiveInspection {
    std::string name;     // the result file, without .json
    std::string process;  // comm
    double threads = 0;
    double vsz_kib = 0, rss_kib = 0, page_tables_kib = 0;
    double stacks_reserved_kib = 0, stacks_resident_kib = 0;
    double kernel_stack_kib_per_thread = 0, kernel_stacks_kib = 0, other_resident_kib = 0;
    // Of its threads with a located stack (the main thread aside); absent when none was.
    std::optional<double> high_water_min_kib, high_water_p50_kib, high_water_p90_kib,
        high_water_max_kib, reserved_p50_kib, suggested_stack_kib;
    std::vector<std::string> names_at_max;
    std::vector<double> high_water_kib;  // every such thread's, ascending
    std::optional<double> forecast_threads;
    std::string forecast_binding_limit;
};
// Every "live-*" result, by name; empty where scripts/reproduce ran none.
std::vector<LiveInspection> read_live_inspections(const Results& results);

// What one more connection's thread cost a live server, as the threadprobe holding the
// connections sampled it (--connect --server-pid): connections-SERVER, SERVER being
// "fibserver-threads" or "python-threads".
struct ConnectionCost {
    std::string server;
    double threads_added = 0;
    double vsz_kib = 0, rss_kib = 0, rss_anon_kib = 0, page_tables_kib = 0;  // per thread
    // Why there are no figures, where the server could not be sampled (it died mid-run: a
    // limit it met, as inside a small pids cgroup); empty when measured.
    std::string not_measured;
};
// Empty where scripts/reproduce held none.
std::vector<ConnectionCost> read_connection_costs(const Results& results);

}  // namespace tp::report
