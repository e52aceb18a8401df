#include "threadprobe.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "connection_ramp.hpp"
#include "embedded_server.hpp"
#include "fib.hpp"
#include "slab.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"
#include "topology.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

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

// What the failure is called in the results: the operation that failed, on the probe's side
// ("connect", also when the descriptors ran out) or the server's ("serve").
const char* operation_name(RampStop failure) {
    switch (failure) {
        case RampStop::pthread_create:
            return "pthread_create";
        case RampStop::request:
            return "request";
        case RampStop::reply:
            return "reply";
        case RampStop::refused:
            return "serve";
        default:
            return "connect";
    }
}

// The one place a Failure is made: from what the ramp met, or from connections still
// unanswered when it gave up on them (unless a stop or the server's end cut the ramp short).
std::optional<Failure> failure_of(const RampResult& ramp, const ConnectionThreads& threads,
                                  std::chrono::nanoseconds ramp_timeout, bool cut_short) {
    Failure f;
    if (ramp.failure) {
        f.side = *ramp.failure == RampStop::refused ? "server" : "probe";
        f.operation = operation_name(*ramp.failure);
        f.at_thread = ramp.failed_at_thread;
        f.error = ramp.error;
        f.diagnosis = ramp.diagnosis.value_or(diagnose({}));
        return f;
    }
    if (ramp.stopped_by == RampStop::safety_margin) {
        // The machine filled up under the run: it stops short of the shared ceiling.
        f.side = "probe";
        f.operation = "safety margin";
        f.at_thread = threads.spawned();
        f.error = ramp.error;
        f.diagnosis = diagnose({});
        return f;
    }
    if (ramp.settled || cut_short) return std::nullopt;
    f.side = "server";
    f.operation = "ramp";
    f.at_thread = threads.settled();
    f.error =
        fmt::format("{} connections unanswered after {}", threads.spawned() - threads.settled(),
                    std::chrono::duration<double>(ramp_timeout).count());
    f.diagnosis = diagnose({});
    return f;
}

// One run once its server answers: the sampler on its thread, the ramp, the hold and the
// teardown, each phase in the timeline. The connection count reaches the sampler from the ramp.
class Measurement {
  public:
    Measurement(ThreadProbeResult& result, EmbeddedServer* embedded, const ProcFs& fs, pid_t self,
                Clock::time_point t0, StopSignal& stop, const ProgressFn& progress)
        : result_(result),
          config_(result.config),
          embedded_(embedded),
          fs_(fs),
          stop_(stop),
          progress_(progress),
          sampler_(fs, self, result.server.pid, t0),
          sampling_(sampler_, state_, config_.interval) {}

    // The process before any connection thread exists.
    void baseline() {
        sampling_.record_now();
        result_.interrupted = stop_.wait_for(config_.baseline);
        sampling_.record_now();
        slab_baseline_ = read_slab(fs_);
    }

    void ramp() {
        RampConfig ramp_config;
        ramp_config.target = config_.threads;
        ramp_config.cost = ThreadCost::for_stack(result_.effective_stack_bytes, true);
        ramp_config.server_pid = result_.server.pid;
        ramp_config.settle_timeout = config_.ramp_timeout;
        ramp_config.margin = config_.margin;
        ramp_.emplace(fs_,
                      ConnectionThreadConfig{result_.server.endpoint, config_.request_n,
                                             config_.stack, config_.touch_bytes},
                      ramp_config, &state_);
        state_.phase = Phase::ramp;
        // A stop during the baseline ends the ramp before its first thread.
        const RampResult ramp = ramp_->run(
            stop_, [this] { return server_alive(); }, progress_);
        if (stop_.requested()) result_.interrupted = true;
        result_.spawn_s = ramp.spawn_s;
        // However fast the ramp was, the timeline shows its end.
        sampling_.record_now();
        result_.spawned = ramp_->threads().spawned();
        result_.connections = ramp_->threads().connected();
        const bool alive = server_alive();
        result_.failure =
            failure_of(ramp, ramp_->threads(), config_.ramp_timeout, result_.interrupted || !alive);
        if (!alive) note_server_death();
    }

    // The plateau every per-thread figure is measured against.
    void hold() {
        state_.phase = Phase::hold;
        if (result_.interrupted || result_.server_died) return;
        progress_(fmt::format("hold: {} connections", ramp_->threads().connected()));
        sampling_.record_now();
        // In slices, so that a server dying mid-hold ends the run then, not after the hold.
        const auto hold_end = Clock::now() + config_.hold;
        while (!result_.interrupted && server_alive() && Clock::now() < hold_end)
            result_.interrupted = stop_.wait_for(
                std::min<std::chrono::nanoseconds>(hold_end - Clock::now(), config_.interval));
        sampling_.record_now();
        slab_plateau_ = read_slab(fs_);
        if (!server_alive()) note_server_death();
    }

    void teardown() {
        state_.phase = Phase::teardown;
        ramp_->release();
        // Give the server a moment to see the connections close and its threads exit.
        stop_.wait_for(
            std::min(config_.interval, std::chrono::nanoseconds(std::chrono::milliseconds(200))));
        sampling_.record_now();
        result_.samples = sampling_.finish();
        result_.sampler = sampling_.cost();
        result_.errors = ramp_->threads().errors();
        result_.costs = summarize_costs(result_.samples);
        if (result_.costs.system && slab_baseline_ && slab_plateau_)
            // Every server is on 127.0.0.1 (net.cpp refuses other hosts): both ends are ours.
            result_.costs.system->socket_kernel =
                socket_kernel_cost(*slab_baseline_, *slab_plateau_, 2 * result_.connections);
        if (embedded_) {
            if (!embedded_->alive())
                note_server_death();
            else
                embedded_->stop();
        }
    }

  private:
    bool server_alive() {
        if (embedded_) return embedded_->alive();
        return !sampling_.server_gone();
    }

    void note_server_death() {
        if (result_.server_died) return;
        result_.server_died =
            embedded_
                ? embedded_->how_it_ended() +
                      (embedded_->stderr_tail().empty() ? "" : ": " + embedded_->stderr_tail())
                : "its /proc entry is gone";
    }

    ThreadProbeResult& result_;
    const ThreadProbeConfig& config_;
    EmbeddedServer* embedded_;
    const ProcFs& fs_;
    StopSignal& stop_;
    const ProgressFn& progress_;
    const Sampler sampler_;
    RunState state_;
    SamplingThread sampling_;
    std::optional<ConnectionRamp> ramp_;  // made once the baseline is taken
    std::optional<SlabSnapshot> slab_baseline_, slab_plateau_;
};

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
    result.context =
        read_machine_context(fs, self, ThreadCost::for_stack(result.effective_stack_bytes, true));

    std::optional<EmbeddedServer> embedded;
    if (config.connect) {
        result.server = {*config.connect, config.server_pid, "unknown", false};
    } else {
        // The server's connection threads get the same stack as the probe's, so both sides of a
        // connection are measured at the size asked for.
        embedded.emplace(EmbeddedServer::start(FibserverLaunch{
            .binary = config.server_binary, .stack = config.stack, .connections = config.threads}));
        result.server = {embedded->endpoint(), embedded->pid(), embedded->model(), true};
    }
    check_server_answers(result.server.endpoint, config.request_n);

    Measurement measurement(result, embedded ? &*embedded : nullptr, fs, self, t0, stop, progress);
    measurement.baseline();
    measurement.ramp();
    measurement.hold();
    measurement.teardown();
    if (stop.requested()) result.interrupted = true;
    return result;
}

}  // namespace tp
