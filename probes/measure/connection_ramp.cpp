#include "connection_ramp.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "descriptor_limit.hpp"
#include "stop_signal.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Threads spawned between two looks at the stop signal, the server, the memory floor and the
// clock: at 8 MiB stacks and ~30 KiB of real memory each, a few MiB, well inside any floor.
constexpr std::uint64_t kBatch = 64;
// The most tasks one batch can add to the machine: its threads and a local server's, one each.
constexpr std::uint64_t kTasksPerBatch = 2 * kBatch;

constexpr std::array<std::pair<RampStop, const char*>, 12> kLabels{{
    {RampStop::target_reached, "max reached"},
    {RampStop::pthread_create, "pthread_create failed"},
    {RampStop::connect, "connect failed"},
    {RampStop::request, "request failed"},
    {RampStop::reply, "reply failed"},
    {RampStop::refused, "refused by server"},
    {RampStop::descriptor_budget, "out of descriptors"},
    {RampStop::memory_floor, "memory floor"},
    {RampStop::safety_margin, "safety margin"},
    {RampStop::time_limit, "time limit"},
    {RampStop::interrupted, "interrupted"},
    {RampStop::server_died, "server died"},
}};

bool is_failure(RampStop stop) {
    switch (stop) {
        case RampStop::pthread_create:
        case RampStop::connect:
        case RampStop::request:
        case RampStop::reply:
        case RampStop::refused:
        case RampStop::descriptor_budget:
            return true;
        default:
            return false;
    }
}

RampStop stop_for(ConnectionFailure failure) {
    switch (failure) {
        case ConnectionFailure::request:
            return RampStop::request;
        case ConnectionFailure::reply:
            return RampStop::reply;
        case ConnectionFailure::refused:
            return RampStop::refused;
        case ConnectionFailure::connect:
        case ConnectionFailure::none:
            break;
    }
    return RampStop::connect;
}

std::string errno_text(int e) {
    return e ? fmt::format("{} ({})", std::strerror(e), e) : "";
}

// How many more connections fit in RLIMIT_NOFILE with the reserve kept, once the soft limit is
// raised as far as the hard limit allows towards what the ramp asks for.
std::uint64_t connection_budget(const ProcFs& fs, pid_t self, std::uint64_t threads) {
    const std::uint64_t open = fs.open_fds(self).value_or(0);
    const DescriptorRoom room = make_room_for_descriptors(open + threads + kDescriptorReserve);
    if (room.after == RLIM_INFINITY) return threads;
    return room.after > open + kDescriptorReserve ? room.after - open - kDescriptorReserve : 0;
}

}  // namespace

const char* ramp_stop_label(RampStop stop) {
    for (const auto& [s, label] : kLabels)
        if (s == stop) return label;
    return "?";
}

std::optional<RampStop> ramp_stop_from_label(std::string_view label) {
    for (const auto& [s, l] : kLabels)
        if (label == l) return s;
    return std::nullopt;
}

ConnectionRamp::ConnectionRamp(ProcFs fs, const ConnectionThreadConfig& threads, RampConfig config,
                               RunState* state)
    : fs_(std::move(fs)),
      config_(std::move(config)),
      state_(state),
      holds_connections_(threads.server.has_value()),
      self_(::getpid()),
      threads_(threads) {}

ConnectionRamp::~ConnectionRamp() = default;

void ConnectionRamp::publish_connections() const {
    if (state_) state_->connections = threads_.connected();
}

std::optional<RampStop> ConnectionRamp::check_batch(StopSignal& stop,
                                                    const std::function<bool()>& server_alive,
                                                    std::optional<std::uint64_t> floor_kib) const {
    // One /proc/meminfo read for both the floor and, in mode 2, the commit margin. A reading
    // that fails leaves them unchecked for one batch, not the ramp ended.
    if (floor_kib || config_.margin.max_committed_kib) {
        if (const auto memory = fs_.system()) {
            if (floor_kib && memory->mem_available_kib < *floor_kib) return RampStop::memory_floor;
            if (config_.margin.max_committed_kib &&
                memory->committed_as_kib >= *config_.margin.max_committed_kib)
                return RampStop::safety_margin;
        }
    }
    // The next batch must fit under the margin, not start below it: a batch adds up to kBatch
    // threads here and as many at a local server's end of their connections.
    if (config_.margin.max_tasks) {
        if (const auto tasks = fs_.tasks();
            tasks && *tasks + kTasksPerBatch > *config_.margin.max_tasks)
            return RampStop::safety_margin;
    }
    if (stop.requested()) return RampStop::interrupted;
    if (config_.time_limit && Clock::now() - started_ > *config_.time_limit)
        return RampStop::time_limit;
    if (!server_alive()) return RampStop::server_died;
    return std::nullopt;
}

RampResult ConnectionRamp::run(StopSignal& stop, const std::function<bool()>& server_alive,
                               const ProgressFn& progress) {
    std::optional<std::uint64_t> floor_kib;
    if (config_.memory_floor_percent) {
        const auto memory = fs_.system();
        if (!memory)
            throw std::runtime_error("/proc/meminfo cannot be read: no memory floor to keep");
        floor_kib = static_cast<std::uint64_t>(static_cast<double>(memory->mem_total_kib) *
                                               *config_.memory_floor_percent / 100.0);
    }
    const std::uint64_t budget =
        holds_connections_ ? connection_budget(fs_, self_, config_.target) : config_.target;

    RampResult result;
    started_ = Clock::now();
    auto last_progress = started_;
    int pthread_error = 0;
    std::optional<RampStop> stopped;
    bool thread_failed = false;
    while (!stopped && !thread_failed) {
        const std::uint64_t spawned = threads_.spawned();
        if (spawned >= config_.target) {
            stopped = RampStop::target_reached;
            break;
        }
        if (spawned % kBatch == 0) {
            if (config_.settle_each_batch) threads_.wait_settled(config_.settle_timeout);
            if ((thread_failed = threads_.failed() > 0)) break;
            if ((stopped = check_batch(stop, server_alive, floor_kib))) break;
            if (Clock::now() - last_progress > 200ms) {
                last_progress = Clock::now();
                progress(fmt::format("ramp: {} of {} threads, {} connected", spawned,
                                     config_.target, threads_.connected()));
            }
        }
        if (spawned >= budget) {
            stopped = RampStop::descriptor_budget;
            break;
        }
        if (const int rc = threads_.spawn_one(); rc != 0) {
            stopped = RampStop::pthread_create;
            pthread_error = rc;
            // Now, while every thread made so far still counts against the limit it met.
            result.diagnosis = diagnose(read_limits(fs_, self_, config_.cost));
            break;
        }
        publish_connections();
        thread_failed = threads_.failed() > 0;  // the next ones would fail alike
    }
    settle(stop, server_alive, progress, result);
    // The first thread that failed has written what it met by the time the others settled.
    result.stopped_by = thread_failed ? stop_for(threads_.first_error().failure) : *stopped;
    describe_failure(result, pthread_error);
    return result;
}

// Every spawned thread either holds its connection or has given up, unless the settling is
// cut short by a stop, the server's end or the timeout.
void ConnectionRamp::settle(StopSignal& stop, const std::function<bool()>& server_alive,
                            const ProgressFn& progress, RampResult& result) {
    const auto deadline = Clock::now() + config_.settle_timeout;
    while (!threads_.wait_settled(100ms)) {
        publish_connections();
        if (stop.requested() || !server_alive() || Clock::now() > deadline) break;
        progress(fmt::format("ramp: {} of {} connected", threads_.connected(), threads_.spawned()));
    }
    result.spawn_s = std::chrono::duration<double>(Clock::now() - started_).count();
    result.settled = threads_.settled() >= threads_.spawned();
    publish_connections();
}

// What the ramp ran into, in words and, for a failure, diagnosed: once the threads spawned have
// settled, so that the descriptors they hold count (a failed pthread_create was diagnosed as it
// failed). A memory floor is only described: the floor is the probe's, not a kernel limit.
void ConnectionRamp::describe_failure(RampResult& result, int pthread_error) const {
    if (result.stopped_by == RampStop::memory_floor && config_.memory_floor_percent)
        result.error =
            fmt::format("MemAvailable below {:.0f}% of memory", *config_.memory_floor_percent);
    if (result.stopped_by == RampStop::safety_margin) result.error = config_.margin.evidence;
    const FirstError first = threads_.first_error();
    if (is_failure(result.stopped_by))
        result.failure = result.stopped_by;
    else if (first.failure != ConnectionFailure::none)
        result.failure = stop_for(first.failure);
    if (!result.failure) return;
    result.failed_at_thread = first.thread;
    switch (*result.failure) {
        case RampStop::pthread_create:
            result.failed_at_thread = threads_.spawned();
            result.error = errno_text(pthread_error);
            break;
        case RampStop::descriptor_budget:
            result.failed_at_thread = threads_.spawned();
            result.error =
                fmt::format("out of descriptors: {} kept for sampling", kDescriptorReserve);
            // The reserve is what is left at the budget: near means within it.
            result.diagnosis = diagnose(read_limits(fs_, self_, config_.cost),
                                        static_cast<double>(kDescriptorReserve + 4));
            break;
        case RampStop::refused:
            // The server could not serve the connection (it says why): diagnose its side.
            result.error = first.server_said;
            result.diagnosis = config_.server_pid
                                   ? diagnose(read_limits(fs_, *config_.server_pid, config_.cost))
                                   : diagnose({});
            break;
        default:
            result.error = *result.failure == RampStop::reply ? "reply was not fib(n)"
                                                              : errno_text(first.error);
            result.diagnosis = diagnose(read_limits(fs_, self_, config_.cost));
            break;
    }
}

void ConnectionRamp::release() {
    threads_.release();
    threads_.join();
    if (state_) state_->connections = 0;
}

}  // namespace tp
