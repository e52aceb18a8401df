// rateprobe: the article's perf2. Tiny requests (fib(1)) as fast as each connection gets
// answers, counted every second; with --interfere N@T a second connection asks for fib(N) at
// time T, so the collapse (under a GIL) and the recovery are measured in one command. With
// --interfere spam:N@T it sends the article's uninterruptible instruction instead ("spam N",
// 'spam' in range(N)). With --sigint, a server the probe started then gets SIGINT while the
// long request runs once more: how long it takes to stop is the article's Ctrl-C that waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "machine_load.hpp"
#include "parallelism.hpp"
#include "placement.hpp"
#include "progress.hpp"
#include "request_clients.hpp"
#include "target_server.hpp"

namespace tp {

class StopSignal;

// The long request.
struct Interference {
    unsigned n = 0;                     // fib(n), unless spam is set
    std::optional<std::uint64_t> spam;  // "spam N": the uninterruptible instruction
    std::chrono::nanoseconds at{};

    std::string request_line() const;    // "40", "spam 30000000"
    std::string expected_reply() const;  // fib(n), "False"
    std::string name() const;            // "fib(40)", "'spam' in range(30000000)"
};
// "40@2s" -> fib(40) at 2 s; "spam:30000000@2s" -> "spam 30000000" at 2 s. Throws
// std::invalid_argument saying what is wrong.
Interference parse_interference(const std::string& text);

// SIGINT to the server the probe started, sent while the long request runs again after the
// rate run: whether and how soon the server stops (the article: not until an uninterruptible
// instruction ends).
struct InterruptDelay {
    double request_s = 0;           // how long the long request takes: the shorter of its two runs
    double rate_run_s = 0;          // how long it took in the rate run
    std::optional<double> again_s;  // and once more, just before the SIGINT
    double sent_after_s = 0;        // after the request went out
    std::optional<double> stop_s;   // SIGINT to the server's exit; empty if it did not within
    double waited_s = 0;            // how long the probe waited for it
};

// Where the ping-pong of tiny requests runs (Placement::one_pu by default). Its rate depends
// most on whether the client and the server thread answering it share a processing unit (a
// wakeup on the same PU is a context switch; across PUs, an inter-processor interrupt and often
// an idle PU waking up): on the 2-PU development VM, 24,000-28,000 requests/s on one PU against
// 2,400-6,700 across two, and across two it varied with wherever the scheduler happened to put
// them. With one_pu the task computing fib(N) gets the other PUs while it runs.

struct RateProbeConfig {
    std::chrono::nanoseconds duration{std::chrono::seconds(5)};
    unsigned connections = 1;
    std::optional<Interference> interfere;
    ServerSource server;
    Placement placement = Placement::one_pu;
    // After the run, SIGINT to the server started here while the long request runs again.
    bool time_interrupt = false;
};

struct RateProbeResult {
    RateProbeConfig config;
    MachineContext context;
    // How busy the machine was while it ran: its own CPU (the embedded server included) and
    // everything else's.
    MachineLoad load;
    ServerIdentity server;
    std::vector<std::uint64_t> per_second;  // requests answered in each whole second
    // Requests answered so far, read about every 20 ms with the time it was read: a reading
    // can come late on a busy machine, so rates divide by the time actually elapsed.
    struct Reading {
        double t_s = 0;
        std::uint64_t answered = 0;
    };
    std::vector<Reading> readings;
    double baseline_rps = 0;
    std::optional<double> during_rps, drop_percent, recover_s;
    // When fib(N) went out, when its tasks had been moved off the tiny requests' PU (with
    // Placement::one_pu, where any moved), and when its answer came.
    std::optional<double> interference_start_s, interference_settled_s, interference_end_s;
    // With Placement::one_pu: the PU the ping-pong ran on, whether the server was bound with
    // it (not one started by someone else), and how many tasks computing fib(N) were moved to
    // the other PUs while it ran (and back after), as the article's experiment needs.
    std::optional<std::string> pinned_pu;
    bool server_pinned = false;
    std::size_t moved_tasks = 0;
    std::optional<InterruptDelay> interrupt;
    // Each PU's speed just before the server started (with Placement::one_pu, the PU the run
    // takes is the fastest of them) and just after the run: whether the host ran the machine
    // at full speed meanwhile.
    std::optional<SpeedCheck> speed_before, speed_after;
    std::string error;  // a connection that failed
    bool interrupted = false;
    int exit_code() const;
};

// Each second's count goes to `live` as it completes (stdout, like perf2.py).
RateProbeResult run_rateprobe(const RateProbeConfig& config, StopSignal& stop,
                              const ProgressFn& live);
// The summary from the readings, apart so it can be tested on made-up timelines.
void summarize_rates(RateProbeResult& r);
nlohmann::json to_json(const RateProbeResult& r);
std::string to_table(const RateProbeResult& r);

}  // namespace tp
