#include "rateprobe.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "fib.hpp"
#include "json_fields.hpp"
#include "procfs.hpp"
#include "stop_signal.hpp"
#include "topology.hpp"
#include "units.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
// Fine enough that a long request of a fifth of a second spans several readings once its
// placement has settled (the "during" rate is measured from then).
constexpr auto kTick = std::chrono::milliseconds(20);
// Recovered: the first tick after the interference back at this share of the baseline.
constexpr double kRecovered = 0.9;
constexpr double kWarmUpS = 0.1;

double seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Interference parse_interference(const std::string& text) {
    const auto at = text.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == text.size())
        throw std::invalid_argument(
            fmt::format("'{}' is not N@TIME or spam:N@TIME, e.g. 40@2s", text));
    Interference i;
    constexpr std::string_view kSpam = "spam:";
    std::string n = text.substr(0, at);
    const bool spam = n.rfind(kSpam, 0) == 0;
    if (spam) n.erase(0, kSpam.size());
    const bool digits = !n.empty() && n.find_first_not_of("0123456789") == std::string::npos;
    if (spam) {
        // Up to 10^18: far beyond any --max-spam worth waiting for, and it fits 64 bits.
        if (!digits || n.size() > 18)
            throw std::invalid_argument(
                fmt::format("'{}' in '{}' is not a count from 0 to 10^18", n, text));
        i.spam = std::stoull(n);
    } else {
        if (!digits || n.size() > 2 || std::stoul(n) > kFibMaxN)
            throw std::invalid_argument(
                fmt::format("'{}' in '{}' is not an n from 0 to {}", n, text, kFibMaxN));
        i.n = static_cast<unsigned>(std::stoul(n));
    }
    try {
        i.at = parse_duration(text.substr(at + 1));
    } catch (const UnitError& e) {
        throw std::invalid_argument(fmt::format("'{}': {}", text, e.what()));
    }
    return i;
}

std::string Interference::request_line() const {
    return spam ? fmt::format("spam {}", *spam) : std::to_string(n);
}

std::string Interference::expected_reply() const {
    return spam ? "False" : std::to_string(fib_by_iteration(n));
}

std::string Interference::name() const {
    return spam ? fmt::format("'spam' in range({})", *spam) : fmt::format("fib({})", n);
}

namespace {

// How long a task has run and how many times it was put on a CPU, from /proc/TID/schedstat
// ("runtime_ns wait_ns timeslices"); nothing once it has gone.
struct TaskRuns {
    std::uint64_t runtime_ns = 0, timeslices = 0;
};
std::optional<TaskRuns> task_runs(pid_t tid) {
    const auto text = read_small_file(fmt::format("/proc/{}/schedstat", tid));
    if (!text) return std::nullopt;
    std::istringstream in(*text);
    TaskRuns r;
    std::uint64_t wait_ns = 0;
    if (!(in >> r.runtime_ns >> wait_ns >> r.timeslices)) return std::nullopt;
    return r;
}

// Right after fib(N) went out: the long request's tasks are those of this probe's tree that
// computed for a good share of a short window without sleeping (less than one timeslice a
// millisecond: a task of the ping-pong sleeps after every request, thousands of times a
// second). They go to the other PUs. Returns how many moved: none on a machine with one PU.
std::size_t move_computing_tasks(const std::string& pinned_pu) {
    constexpr auto kSettle = std::chrono::milliseconds(10), kWindow = std::chrono::milliseconds(30);
    constexpr double kComputing = 0.2;  // of the window on a CPU, sharing it with the ping-pong
    const std::string others = usable_pus_but(pinned_pu);
    if (others.empty()) return 0;
    std::this_thread::sleep_for(kSettle);
    const auto tids = tasks_of_tree(::getpid());
    std::vector<std::optional<TaskRuns>> before;
    for (const pid_t tid : tids) before.push_back(task_runs(tid));
    const auto start = Clock::now();
    std::this_thread::sleep_for(kWindow);
    const double window_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::vector<pid_t> computing;
    for (std::size_t i = 0; i < tids.size(); ++i) {
        const auto after = task_runs(tids[i]);
        if (!before[i] || !after) continue;
        const double ran_ms = static_cast<double>(after->runtime_ns - before[i]->runtime_ns) / 1e6;
        const auto slices = after->timeslices - before[i]->timeslices;
        if (ran_ms >= kComputing * window_ms && static_cast<double>(slices) < window_ms)
            computing.push_back(tids[i]);
    }
    return bind_tasks(computing, others);
}

// The article's Ctrl-C, on the server this probe started: the long request goes out once more
// on a fresh connection and, a quarter of its time later (at most 0.1 s, so that it is surely
// running), the server gets SIGINT; timed until it has exited. Every PU is open to the server
// meanwhile, so that its main thread's wait is the server's own, not a queue for one PU.
// How much of the request was left is judged from its length, so it is timed once more just
// before, in the same placement, and the shorter time counts: a host that slows a virtual CPU
// for seconds at a time (unseen by /proc/stat) made the rate run's time alone 1.6x too long.
// Empty when the request is too short to be caught running.
std::optional<InterruptDelay> measure_interrupt(EmbeddedServer& server,
                                                const Interference& interference, double rate_run_s,
                                                StopSignal& stop) {
    constexpr double kShortest = 0.1;  // s: a request shorter than this is not caught running
    if (rate_run_s < kShortest) return std::nullopt;
    bind_process_tree(::getpid(), usable_pus());
    InterruptDelay d;
    d.rate_run_s = rate_run_s;
    d.request_s = rate_run_s;
    {
        RequestClient timing(server.endpoint(), std::chrono::seconds(3600));
        std::string error;
        const auto start = Clock::now();
        if (timing.ask_line(interference.request_line(), error)) {
            d.again_s = seconds(Clock::now() - start);
            d.request_s = std::min(d.request_s, *d.again_s);
        }
    }
    if (stop.requested() || d.request_s < kShortest) return std::nullopt;
    d.sent_after_s = std::min(0.1, d.request_s / 4);
    RequestClient client(server.endpoint(), std::chrono::seconds(3600));
    std::thread asker([&] {
        std::string error;
        client.ask_line(interference.request_line(), error);  // ends with the server, unanswered
    });
    const auto sent = Clock::now();
    std::this_thread::sleep_until(sent + std::chrono::duration<double>(d.sent_after_s));
    const auto signalled = Clock::now();
    ::kill(server.pid(), SIGINT);
    // Long enough for the rest of the request and a slow exit; then the probe's own stop
    // (SIGTERM, then SIGKILL) ends it.
    const auto limit =
        std::chrono::duration<double>(2 * std::max(d.rate_run_s, d.again_s.value_or(0)) + 5);
    while (server.alive() && Clock::now() - signalled < limit && !stop.requested())
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    d.waited_s = seconds(Clock::now() - signalled);
    if (!server.alive()) d.stop_s = d.waited_s;
    client.shut_down();
    asker.join();
    return d;
}

}  // namespace

int RateProbeResult::exit_code() const {
    if (interrupted) return 130;
    return error.empty() ? 0 : 1;
}

void summarize_rates(RateProbeResult& r) {
    const auto& x = r.readings;
    if (x.size() < 2) return;
    // Requests per second between the last reading at or before `from` and the first at or
    // after `to` (so an interval always spans at least two readings).
    auto rate = [&](double from, double to) -> std::optional<double> {
        std::size_t i = 0;
        while (i + 1 < x.size() && x[i + 1].t_s <= from) ++i;
        std::size_t j = i + 1;
        while (j + 1 < x.size() && x[j].t_s < to) ++j;
        const double dt = x[j].t_s - x[i].t_s;
        if (dt <= 0) return std::nullopt;
        return static_cast<double>(x[j].answered - x[i].answered) / dt;
    };
    // The first tenth of a second covers connection set-up and warm-up (the server's thread
    // or process for the connection, cold caches); the baseline starts at the first reading
    // after it, or at the second reading of a shorter run.
    double warm = x.size() > 2 ? x[1].t_s : x[0].t_s;
    for (const auto& reading : x)
        if (reading.t_s >= kWarmUpS && reading.t_s < x.back().t_s) {
            warm = std::max(warm, reading.t_s);
            break;
        }
    const double end = x.back().t_s;
    if (!r.interference_start_s) {
        r.baseline_rps = rate(warm, end).value_or(0);
        return;
    }
    r.baseline_rps = rate(warm, std::max(*r.interference_start_s, warm)).value_or(0);
    // A long request still running when the run ends interfered until the end: its window
    // is measured all the same, only the recovery cannot be.
    const double window_end = r.interference_end_s.value_or(end);
    // While the long request's tasks are being found and moved it shares the tiny requests' PU:
    // that is the probe's doing, not the server's, so the window starts once they are placed
    // (where that happened before the request ended). Readings strictly inside the window
    // where there are two; else the bracketing ones, which take in a little of the time
    // around it.
    double from = *r.interference_start_s, to = window_end;
    if (r.interference_settled_s && *r.interference_settled_s < window_end)
        from = std::max(from, *r.interference_settled_s);
    std::vector<double> inside;
    for (const auto& reading : x)
        if (reading.t_s >= from && reading.t_s <= to) inside.push_back(reading.t_s);
    if (inside.size() >= 2) {
        from = inside.front();
        to = inside.back();
    }
    r.during_rps = rate(from, to);
    if (r.during_rps && r.baseline_rps > 0)
        r.drop_percent = 100.0 * (1.0 - *r.during_rps / r.baseline_rps);
    if (!r.interference_end_s) return;
    for (std::size_t i = 1; i < x.size(); ++i) {
        if (x[i - 1].t_s < *r.interference_end_s) continue;
        const double dt = x[i].t_s - x[i - 1].t_s;
        if (dt > 0 && static_cast<double>(x[i].answered - x[i - 1].answered) / dt >=
                          kRecovered * r.baseline_rps) {
            r.recover_s = x[i - 1].t_s - *r.interference_end_s;
            break;
        }
    }
}

RateProbeResult run_rateprobe(const RateProbeConfig& config, StopSignal& stop,
                              const ProgressFn& live) {
    RateProbeResult result;
    result.config = config;
    const CpuClock cpu_at_start = read_cpu_clock(ProcFs{});
    result.context = read_machine_context(ProcFs{}, ::getpid(), {8 << 20, true});
    result.speed_before = check_pu_speeds();
    if (config.placement == Placement::one_pu) {
        // Before the embedded server starts, so that it and every process and thread it makes
        // inherit the binding: binding its tree after it is ready raced a pre-forking server
        // still forking its workers, and a worker that escaped ran the ping-pong across PUs
        // at a third of the rate.
        result.pinned_pu = fastest_pu(*result.speed_before);
        bind_process_tree(::getpid(), *result.pinned_pu);
    }
    ServerHandle server(config.server);
    result.server = server.identity();
    if (result.pinned_pu) {
        bind_process_tree(::getpid(), *result.pinned_pu);  // an external server's: not ours
        result.server_pinned = result.server.embedded;
    }

    std::vector<std::unique_ptr<RequestClient>> clients;
    for (unsigned i = 0; i < config.connections; ++i)
        clients.push_back(
            std::make_unique<RequestClient>(server.endpoint(), std::chrono::seconds(60)));
    std::atomic<std::uint64_t> answered{0};
    std::atomic<bool> done{false};
    std::string first_error;
    std::mutex error_mutex;
    auto record_error = [&](const std::string& e) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = e;
    };

    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < config.connections; ++i) {
        threads.emplace_back([&, i] {
            std::string error;
            while (!done.load()) {
                const auto reply = clients[i]->ask(1, error);
                if (!reply || *reply != "1") {
                    // After the run ends its connection is shut down under it: not an error.
                    if (!done.load())
                        record_error(reply ? fmt::format("fib(1) answered '{}'", *reply) : error);
                    return;
                }
                answered.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::atomic<double> interference_start{-1}, interference_settled{-1}, interference_end{-1};
    std::thread interferer;
    // Connected up front, so T is when fib(N) is asked, not when a connection is made.
    std::optional<RequestClient> big;
    if (config.interfere) {
        big.emplace(server.endpoint(), std::chrono::seconds(3600));
        interferer = std::thread([&] {
            const auto when = t0 + config.interfere->at;
            while (!done.load() && Clock::now() < when)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            if (done.load()) return;
            interference_start = seconds(Clock::now() - t0);
            // The long request gets a PU of its own, the tiny ones keep theirs: the article
            // measures what it does to them when it can run beside them.
            std::thread placer;
            if (result.pinned_pu)
                placer = std::thread([&] {
                    try {
                        result.moved_tasks = move_computing_tasks(*result.pinned_pu);
                        interference_settled = seconds(Clock::now() - t0);
                    } catch (const std::exception& e) {
                        record_error(fmt::format("cannot place the long request: {}", e.what()));
                    }
                });
            std::string error;
            const auto reply = big->ask_line(config.interfere->request_line(), error);
            if (placer.joinable()) placer.join();
            if (done.load()) return;  // cut short at the end of the run
            interference_end = seconds(Clock::now() - t0);
            if (!reply)
                record_error("interference: " + error);
            else if (*reply != config.interfere->expected_reply())
                record_error(fmt::format("{} answered '{}', not '{}'", config.interfere->name(),
                                         *reply, config.interfere->expected_reply()));
            if (result.pinned_pu && result.moved_tasks > 0) {
                try {  // back to where the tiny requests ran before
                    bind_process_tree(::getpid(), *result.pinned_pu);
                } catch (const std::exception& e) {
                    record_error(fmt::format("cannot bind again: {}", e.what()));
                }
            }
        });
    }

    result.readings.push_back({0.0, 0});
    std::uint64_t at_last_second = 0;
    auto next_tick = t0 + kTick;
    while (Clock::now() - t0 < config.duration) {
        if (stop.wait_for(next_tick - Clock::now())) {
            result.interrupted = true;
            break;
        }
        const std::uint64_t now = answered.load();
        const double t = seconds(Clock::now() - t0);
        result.readings.push_back({t, now});
        // A reading that came late does not bring the next one right after it: readings stay
        // at least half a tick apart, so each interval is long enough to be a rate.
        next_tick += kTick;
        while (next_tick - Clock::now() < kTick / 2) next_tick += kTick;
        if (t >= static_cast<double>(result.per_second.size() + 1)) {
            result.per_second.push_back(now - at_last_second);
            at_last_second = now;
            live(fmt::format("{:>4} s  {:>8} requests/second\n", result.per_second.size(),
                             result.per_second.back()));
        }
        std::lock_guard lock(error_mutex);
        if (!first_error.empty()) break;
    }
    done = true;
    // A client blocked on a server that has not answered (fib(N) still running) would hold
    // the join: end the connections under them.
    for (auto& c : clients) c->shut_down();
    if (big) big->shut_down();
    for (auto& t : threads) t.join();
    if (interferer.joinable()) interferer.join();
    result.error = first_error;
    if (interference_start.load() >= 0) result.interference_start_s = interference_start.load();
    if (interference_settled.load() >= 0 && result.moved_tasks > 0)
        result.interference_settled_s = interference_settled.load();
    if (interference_end.load() >= 0) result.interference_end_s = interference_end.load();
    summarize_rates(result);
    if (!result.interrupted) result.speed_after = check_pu_speeds();
    if (config.time_interrupt && server.embedded() && result.interference_end_s &&
        result.error.empty() && !result.interrupted) {
        // The rates are measured already: a failure here is said, and they are still written.
        try {
            result.interrupt =
                measure_interrupt(*server.embedded(), *config.interfere,
                                  *result.interference_end_s - *result.interference_start_s, stop);
        } catch (const std::exception& e) {
            result.error = fmt::format("cannot time SIGINT: {}", e.what());
        }
    }
    server.stop();
    result.load = load_between(cpu_at_start, read_cpu_clock(ProcFs{}));
    return result;
}

namespace {

// Seconds to a tenth of a millisecond, empty as null.
json tenth_ms(std::optional<double> s) {
    return s ? json(rounded(*s, 1e4)) : json(nullptr);
}

json interrupt_json(const InterruptDelay& d) {
    return {{"request_s", tenth_ms(d.request_s)}, {"rate_run_s", tenth_ms(d.rate_run_s)},
            {"again_s", tenth_ms(d.again_s)},     {"sent_after_s", tenth_ms(d.sent_after_s)},
            {"stop_s", tenth_ms(d.stop_s)},       {"waited_s", tenth_ms(d.waited_s)}};
}

}  // namespace

json to_json(const RateProbeResult& r) {
    json timeline = json::array();
    for (std::size_t i = 0; i < r.per_second.size(); ++i)
        timeline.push_back({{"t_s", i + 1}, {"requests", r.per_second[i]}});
    json readings = json::array();
    for (const auto& x : r.readings)
        readings.push_back({{"t_s", tenth_ms(x.t_s)}, {"answered", x.answered}});
    auto opt = [](const std::optional<double>& v) {
        return v ? json(std::round(*v * 100) / 100) : json(nullptr);
    };
    return {
        {"tool", "rateprobe"},
        {"version", THREADPROBE_VERSION},
        {"context", to_json(r.context)},
        {"config",
         {{"duration_s", seconds(r.config.duration)},
          {"connections", r.config.connections},
          {"interfere",
           r.config.interfere
               ? json{{"n", r.config.interfere->spam ? json(nullptr) : json(r.config.interfere->n)},
                      {"spam",
                       r.config.interfere->spam ? json(*r.config.interfere->spam) : json(nullptr)},
                      {"request", r.config.interfere->request_line()},
                      {"at_s", seconds(r.config.interfere->at)}}
               : json(nullptr)},
          {"server", r.server.description()},
          {"server_model", r.server.embedded ? json(r.server.model) : json(nullptr)},
          {"placement",
           {{"mode", placement_name(r.config.placement)},
            {"pu", r.pinned_pu ? json(*r.pinned_pu) : json(nullptr)},
            {"server_pinned", r.server_pinned},
            {"long_request_tasks_moved", r.moved_tasks}}}}},
        {"timeline", timeline},
        {"load", to_json(r.load)},
        {"speed_checks", {{"before", to_json(r.speed_before)}, {"after", to_json(r.speed_after)}}},
        {"summary",
         {{"baseline_rps", std::round(r.baseline_rps * 100) / 100},
          {"during_rps", opt(r.during_rps)},
          {"drop_percent", opt(r.drop_percent)},
          {"recover_s", opt(r.recover_s)},
          {"interference_start_s", opt(r.interference_start_s)},
          {"interference_settled_s", opt(r.interference_settled_s)},
          {"interference_end_s", opt(r.interference_end_s)},
          {"interrupt", r.interrupt ? interrupt_json(*r.interrupt) : json(nullptr)},
          {"readings", readings},
          {"error", r.error.empty() ? json(nullptr) : json(r.error)},
          {"interrupted", r.interrupted}}}};
}

std::string to_table(const RateProbeResult& r) {
    std::string out =
        !r.pinned_pu
            ? std::string("\nplacement  free: wherever the scheduler put them\n")
            : fmt::format(
                  "\nplacement  this probe{} on PU {}; {} task{} computing the long "
                  "request moved to the other PUs while it ran\n",
                  r.server_pinned ? " and its server" : " (not the server: not started here)",
                  *r.pinned_pu, r.moved_tasks, r.moved_tasks == 1 ? "" : "s");
    out += fmt::format("baseline   {:>10.0f} requests/s\n", r.baseline_rps);
    if (r.interference_start_s)
        out += fmt::format("{} ran from {:.2f} s to {}{}\n", r.config.interfere->name(),
                           *r.interference_start_s,
                           r.interference_end_s ? fmt::format("{:.2f} s", *r.interference_end_s)
                                                : std::string("the end (still running)"),
                           r.interference_settled_s
                               ? fmt::format("; on its own PU from {:.2f} s, measured from then",
                                             *r.interference_settled_s)
                               : std::string());
    if (r.during_rps)
        out += fmt::format("during     {:>10.0f} requests/s  ({:+.1f}%)\n", *r.during_rps,
                           r.drop_percent ? -*r.drop_percent : 0.0);
    if (r.interference_end_s)
        out += r.recover_s ? fmt::format("recovered  {:>10.2f} s after it ended\n", *r.recover_s)
                           : std::string("recovered  not within the run\n");
    if (r.interrupt)
        out += r.interrupt->stop_s
                   ? fmt::format(
                         "SIGINT     {:>10.3f} s to stop the server, sent {:.2f} s into "
                         "the {:.2f} s request\n",
                         *r.interrupt->stop_s, r.interrupt->sent_after_s, r.interrupt->request_s)
                   : fmt::format(
                         "SIGINT     server still running {:.1f} s after it (then "
                         "stopped)\n",
                         r.interrupt->waited_s);
    if (!r.error.empty()) out += fmt::format("failed: {}\n", r.error);
    if (r.interrupted) out += "interrupted: figures cover the seconds measured before the stop\n";
    return out;
}

}  // namespace tp
