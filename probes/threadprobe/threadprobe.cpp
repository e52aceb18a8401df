#include "threadprobe.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "descriptor_limit.hpp"
#include "embedded_server.hpp"
#include "fib.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"
#include "topology.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
// Descriptors the probe keeps for itself while it holds its connections: the sampler's and the
// diagnosis's /proc reads, the results files. Without them, a run that meets RLIMIT_NOFILE
// could not even read /proc/meminfo to say so.
constexpr std::uint64_t kDescriptorReserve = 32;

// How many more connections fit in RLIMIT_NOFILE with the reserve kept, once the soft limit is
// raised as far as the hard limit allows towards what the run asks for.
std::uint64_t connection_budget(const ProcFs& fs, pid_t self, std::uint64_t threads) {
    const std::uint64_t open = fs.open_fds(self).value_or(0);
    const DescriptorRoom room = make_room_for_descriptors(open + threads + kDescriptorReserve);
    if (room.after == RLIM_INFINITY) return threads;
    return room.after > open + kDescriptorReserve ? room.after - open - kDescriptorReserve : 0;
}

std::vector<std::string> embedded_server_args(const ThreadProbeConfig& config) {
    // The server's connection threads get the same stack as the probe's, so both sides of a
    // connection are measured at the size asked for.
    std::vector<std::string> args = {"--model", "threads", "--port", "0", "--bind", "127.0.0.1"};
    const std::vector<std::string> limits = measurement_server_limits(config.threads);
    args.insert(args.end(), limits.begin(), limits.end());
    if (config.stack) {
        args.push_back("--stack");
        args.push_back(std::to_string(*config.stack));
    }
    return args;
}

// One request on a fresh connection: proves the server speaks the protocol before we measure.
void check_server_answers(const Endpoint& server, unsigned n) {
    Fd fd = connect_tcp(server);
    const std::string request = fmt::format("{}\n", n);
    const std::string expected = fmt::format("{}\n", fib_by_iteration(n));
    timeval timeout{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (!write_all(fd.get(), request))
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("send to {}:{}", server.host, server.port));
    std::string reply;
    char buf[128];
    while (reply.find('\n') == std::string::npos && reply.size() < 256) {
        const ssize_t got = read_some(fd.get(), buf, sizeof buf);
        if (got <= 0)
            throw std::runtime_error(
                fmt::format("server at {}:{} did not answer fib({}): {}", server.host, server.port,
                            n, got == 0 ? "it closed the connection" : std::strerror(errno)));
        reply.append(buf, static_cast<std::size_t>(got));
    }
    if (reply != expected)
        throw std::runtime_error(fmt::format(
            "server at {}:{} answered fib({}) with '{}', not '{}'", server.host, server.port, n,
            reply.substr(0, reply.find('\n')), expected.substr(0, expected.size() - 1)));
}

std::string errno_text(int e) {
    return e ? fmt::format("{} ({})", std::strerror(e), e) : "";
}

Failure failure_from_threads(const FirstError& e, const ProcFs& fs, pid_t probe_pid,
                             const ServerInfo& server, const ThreadCost& cost) {
    Failure f;
    f.at_thread = e.thread;
    if (e.failure == ConnectionFailure::refused) {
        // The server could not serve the connection (it says why): diagnose its side.
        f.side = "server";
        f.operation = "serve";
        f.error = e.server_said;
        if (server.pid)
            f.diagnosis = diagnose(read_limits(fs, *server.pid, cost));
        else
            f.diagnosis = diagnose({});
    } else {
        f.side = "probe";
        f.operation = connection_failure_name(e.failure);
        f.error =
            e.failure == ConnectionFailure::reply ? "reply was not fib(n)" : errno_text(e.error);
        f.diagnosis = diagnose(read_limits(fs, probe_pid, cost));
    }
    return f;
}

}  // namespace

int ThreadProbeResult::exit_code() const {
    if (interrupted) return 130;
    if (failure || server_died || errors.total() > 0) return 1;
    return 0;
}

ThreadProbeResult run_threadprobe(const ThreadProbeConfig& config, StopSignal& stop,
                                  const ProgressFn& progress) {
    const auto t0 = Clock::now();
    const ProcFs fs;
    const pid_t self = ::getpid();

    ThreadProbeResult result;
    result.config = config;
    result.effective_stack_bytes = config.stack.value_or(default_thread_stack());
    const auto cost = ThreadCost::for_stack(result.effective_stack_bytes, true);
    result.context = read_machine_context(fs, self, cost);

    std::optional<EmbeddedServer> embedded;
    if (config.connect) {
        result.server = {*config.connect, config.server_pid, "unknown", false};
    } else {
        embedded.emplace(EmbeddedServer::start(config.server_binary, embedded_server_args(config)));
        result.server = {embedded->endpoint(), embedded->pid(), embedded->model(), true};
    }
    check_server_answers(result.server.endpoint, config.request_n);

    const Sampler sampler(fs, self, result.server.pid, t0);
    RunState state;
    SamplingThread sampling(sampler, state, config.interval);
    auto server_alive = [&] {
        if (embedded) return embedded->alive();
        return !sampling.server_gone();
    };
    auto note_server_death = [&] {
        if (result.server_died) return;
        result.server_died =
            embedded ? embedded->how_it_ended() +
                           (embedded->stderr_tail().empty() ? "" : ": " + embedded->stderr_tail())
                     : "its /proc entry is gone";
    };

    // Baseline: the process before any connection thread exists.
    sampling.record_now();
    result.interrupted = stop.wait_for(config.baseline);
    sampling.record_now();

    ConnectionThreads threads(
        {result.server.endpoint, config.request_n, config.stack, config.touch_bytes});
    state.phase = Phase::ramp;
    const auto ramp_start = Clock::now();
    auto last_progress = ramp_start;
    const std::uint64_t budget = connection_budget(fs, self, config.threads);
    std::optional<std::uint64_t> out_of_descriptors_at;
    for (std::uint64_t i = 0; i < config.threads && !result.interrupted; ++i) {
        if (i >= budget) {
            out_of_descriptors_at = i;
            break;
        }
        if (const int rc = threads.spawn_one(); rc != 0) {
            Failure f;
            f.side = "probe";
            f.operation = "pthread_create";
            f.at_thread = i;
            f.error = errno_text(rc);
            f.diagnosis = diagnose(read_limits(fs, self, cost));
            result.failure = std::move(f);
            break;
        }
        state.connections = threads.connected();
        if (threads.failed() > 0) break;  // the next ones would fail alike
        if ((i & 63) == 0) {
            if (stop.requested()) result.interrupted = true;
            if (!server_alive()) break;
            if (Clock::now() - last_progress > std::chrono::milliseconds(200)) {
                last_progress = Clock::now();
                progress(fmt::format("ramp: {} of {} threads, {} connected", i + 1, config.threads,
                                     threads.connected()));
            }
        }
    }
    // Every spawned thread either holds its connection or has given up.
    const auto ramp_deadline = Clock::now() + config.ramp_timeout;
    while (!threads.wait_settled(std::chrono::milliseconds(100))) {
        state.connections = threads.connected();
        if (stop.requested()) result.interrupted = true;
        if (result.interrupted || !server_alive() || Clock::now() > ramp_deadline) break;
        progress(fmt::format("ramp: {} of {} connected", threads.connected(), threads.spawned()));
    }
    result.spawn_s = std::chrono::duration<double>(Clock::now() - ramp_start).count();
    // However fast the ramp was, the timeline shows its end.
    sampling.record_now();
    result.spawned = threads.spawned();
    result.connections = threads.connected();
    state.connections = threads.connected();
    // Diagnosed once the threads spawned have connected, so the descriptors they hold count.
    if (!result.failure && out_of_descriptors_at) {
        Failure f;
        f.side = "probe";
        f.operation = "connect";
        f.at_thread = *out_of_descriptors_at;
        f.error = fmt::format("out of descriptors: {} kept for sampling", kDescriptorReserve);
        f.diagnosis = diagnose(read_limits(fs, self, cost), kDescriptorReserve + 4);
        result.failure = std::move(f);
    }
    if (!result.failure && threads.first_error().failure != ConnectionFailure::none)
        result.failure = failure_from_threads(threads.first_error(), fs, self, result.server, cost);
    if (!result.failure && threads.settled() < threads.spawned()) {
        Failure f;
        f.side = "server";
        f.operation = "ramp";
        f.at_thread = threads.settled();
        f.error =
            fmt::format("{} connections unanswered after {}", threads.spawned() - threads.settled(),
                        std::chrono::duration<double>(config.ramp_timeout).count());
        f.diagnosis = diagnose({});
        if (!result.interrupted && server_alive()) result.failure = std::move(f);
    }
    if (!server_alive()) note_server_death();

    // Hold: the plateau every per-thread figure is measured against.
    state.phase = Phase::hold;
    if (!result.interrupted && !result.server_died) {
        progress(fmt::format("hold: {} connections", threads.connected()));
        sampling.record_now();
        // In slices, so that a server dying mid-hold ends the run then, not after the hold.
        const auto hold_end = Clock::now() + config.hold;
        while (!result.interrupted && server_alive() && Clock::now() < hold_end)
            result.interrupted = stop.wait_for(
                std::min<std::chrono::nanoseconds>(hold_end - Clock::now(), config.interval));
        sampling.record_now();
        if (!server_alive()) note_server_death();
    }

    state.phase = Phase::teardown;
    threads.release();
    threads.join();
    state.connections = 0;
    // Give the server a moment to see the connections close and its threads exit.
    stop.wait_for(
        std::min(config.interval, std::chrono::nanoseconds(std::chrono::milliseconds(200))));
    sampling.record_now();
    result.samples = sampling.finish();
    result.sampler = sampling.cost();
    result.errors = threads.errors();
    result.costs = summarize_costs(result.samples);
    if (embedded) {
        if (!embedded->alive())
            note_server_death();
        else
            embedded->stop();
    }
    if (stop.requested()) result.interrupted = true;
    return result;
}

}  // namespace tp
