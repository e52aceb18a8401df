#include "sampler.hpp"

#include <time.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "json_fields.hpp"

namespace tp {

namespace {

double thread_cpu_s() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::baseline:
            return "baseline";
        case Phase::ramp:
            return "ramp";
        case Phase::hold:
            return "hold";
        case Phase::teardown:
            return "teardown";
    }
    return "?";
}

Phase phase_from_name(const std::string& name) {
    for (const Phase p : {Phase::baseline, Phase::ramp, Phase::hold, Phase::teardown})
        if (name == phase_name(p)) return p;
    throw std::invalid_argument("no phase is called '" + name + "'");
}

nlohmann::json to_json(const Sample& s) {
    using nlohmann::json;
    return {{"t_s", rounded(s.t_s, 1e4)},
            {"phase", phase_name(s.phase)},
            {"connections", s.connections},
            {"probe", s.probe ? to_json(*s.probe) : json(nullptr)},
            {"server", s.server ? to_json(*s.server) : json(nullptr)},
            {"system", s.system ? to_json(*s.system) : json(nullptr)},
            {"tasks", optional_json(s.tasks)}};
}

void from_json(const nlohmann::json& j, Sample& s) {
    s.t_s = j.at("t_s");
    s.phase = phase_from_name(j.at("phase"));
    s.connections = j.at("connections");
    s.probe = optional_from_json<ProcessMemory>(j.at("probe"));
    s.server = optional_from_json<ProcessMemory>(j.at("server"));
    s.system = optional_from_json<SystemMemory>(j.at("system"));
    s.tasks = optional_from_json<std::uint64_t>(j.at("tasks"));
}

Sampler::Sampler(ProcFs fs, pid_t probe_pid, std::optional<pid_t> server_pid, Clock::time_point t0)
    : fs_(std::move(fs)), probe_pid_(probe_pid), server_pid_(server_pid), t0_(t0) {}

Sample Sampler::take(Phase phase, std::uint64_t connections) const {
    Sample s;
    s.t_s = std::chrono::duration<double>(Clock::now() - t0_).count();
    s.phase = phase;
    s.connections = connections;
    s.probe = fs_.process(probe_pid_);
    if (server_pid_) s.server = fs_.process(*server_pid_);
    s.system = fs_.system();
    s.tasks = fs_.tasks();
    return s;
}

SamplingThread::SamplingThread(const Sampler& sampler, const RunState& state,
                               std::chrono::nanoseconds interval)
    : sampler_(sampler), state_(state) {
    thread_ = std::thread([this, interval] { loop(interval); });
}

SamplingThread::~SamplingThread() {
    if (thread_.joinable()) finish();
}

void SamplingThread::store(const Sample& s) {
    if (sampler_.server_pid() && !s.server) server_gone_ = true;
    if (s.failed()) ++failed_samples_;
    std::lock_guard lock(mutex_);
    samples_.push_back(s);
}

Sample SamplingThread::record_now() {
    const Sample s = sampler_.take(state_.phase.load(), state_.connections.load());
    store(s);
    return s;
}

void SamplingThread::loop(std::chrono::nanoseconds interval) {
    const auto started = Sampler::Clock::now();
    const double cpu_at_start = thread_cpu_s();
    auto next = started;
    while (!stopping_.load()) {
        const double before = thread_cpu_s();
        const Sample s = record_now();
        ++cost_.samples;
        if (s.phase == Phase::hold) {
            ++cost_.hold_samples;
            cost_.hold_cpu_s += thread_cpu_s() - before;
        }
        next += interval;
        std::unique_lock lock(wake_mutex_);
        wake_.wait_until(lock, next, [this] { return stopping_.load(); });
    }
    cost_.cpu_s = thread_cpu_s() - cpu_at_start;
    cost_.wall_s = std::chrono::duration<double>(Sampler::Clock::now() - started).count();
}

std::vector<Sample> SamplingThread::finish() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    cost_.failed_samples = failed_samples_.load();
    std::lock_guard lock(mutex_);
    std::vector<Sample> out = samples_;
    // record_now() from the run and the loop may interleave; keep time order.
    std::stable_sort(out.begin(), out.end(),
                     [](const Sample& a, const Sample& b) { return a.t_s < b.t_s; });
    return out;
}

}  // namespace tp
