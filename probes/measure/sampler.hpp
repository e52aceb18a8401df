// Samples the probe process, the server process and the system over time. One sample is a
// handful of small /proc reads (status twice, meminfo, loadavg): cheap enough at 10 Hz with
// ten thousand threads, which is why smaps is never read here.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "procfs.hpp"

namespace tp {

enum class Phase { baseline, ramp, hold, teardown };
const char* phase_name(Phase p);
// The phase a name names; std::invalid_argument for one that names none.
Phase phase_from_name(const std::string& name);

struct Sample {
    double t_s = 0;  // since the probe's start
    Phase phase = Phase::baseline;
    std::uint64_t connections = 0;  // connections the probe holds at that moment
    std::optional<ProcessMemory> probe;
    std::optional<ProcessMemory> server;  // nullopt without a known server pid, or once it died
    // nullopt when /proc/meminfo could not be read: a failed sample, which the run keeps and
    // counts, and the cost summary leaves out.
    std::optional<SystemMemory> system;
    std::optional<std::uint64_t> tasks;  // threads on the whole machine (/proc/loadavg)

    bool failed() const { return !system; }
};
nlohmann::json to_json(const Sample& s);  // t_s to 0.1 ms
void from_json(const nlohmann::json& j, Sample& s);

// What the run is doing now; written by the run, read by the sampling thread.
struct RunState {
    std::atomic<Phase> phase{Phase::baseline};
    std::atomic<std::uint64_t> connections{0};
};

class Sampler {
  public:
    using Clock = std::chrono::steady_clock;

    Sampler(ProcFs fs, pid_t probe_pid, std::optional<pid_t> server_pid, Clock::time_point t0);

    Sample take(Phase phase, std::uint64_t connections) const;
    std::optional<pid_t> server_pid() const { return server_pid_; }

  private:
    ProcFs fs_;
    pid_t probe_pid_;
    std::optional<pid_t> server_pid_;
    Clock::time_point t0_;
};

// What sampling cost the probe: the sampling thread's own CPU time (its thread CPU clock), so
// that a reader can tell the measurement from what it measures. Samples the run asks for at
// phase boundaries run on the run's thread and are not in it.
struct SamplerCost {
    std::uint64_t samples = 0;         // taken by the sampling thread on its schedule
    std::uint64_t failed_samples = 0;  // of every sample taken, those that failed (see Sample)
    double cpu_s = 0;                  // the sampling thread's CPU time, from start to stop
    double wall_s = 0;                 // how long it ran
    std::uint64_t hold_samples = 0;
    double hold_cpu_s = 0;  // CPU time of the samples taken while every connection was held

    // Share of one core the sampling thread used over its life, in percent.
    double cpu_percent() const { return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0; }
    // CPU time of one sample with every thread up: what the interval multiplies.
    double hold_cpu_per_sample_s() const {
        return hold_samples ? hold_cpu_s / static_cast<double>(hold_samples) : 0;
    }
};

// Takes a sample every `interval` on its own thread until stopped, and on demand from the
// run at phase boundaries so every phase has at least one.
class SamplingThread {
  public:
    SamplingThread(const Sampler& sampler, const RunState& state,
                   std::chrono::nanoseconds interval);
    ~SamplingThread();
    SamplingThread(const SamplingThread&) = delete;
    SamplingThread& operator=(const SamplingThread&) = delete;

    // Records a sample now and returns it.
    Sample record_now();
    // True once a sample found the server gone.
    bool server_gone() const { return server_gone_.load(); }
    // Stops the thread; returns every sample in time order.
    std::vector<Sample> finish();
    // What the sampling thread cost; complete once finish() has returned.
    SamplerCost cost() const { return cost_; }

  private:
    void loop(std::chrono::nanoseconds interval);
    void store(const Sample& s);

    const Sampler& sampler_;
    const RunState& state_;
    std::mutex mutex_;
    std::vector<Sample> samples_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> server_gone_{false};
    std::atomic<std::uint64_t> failed_samples_{0};
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    SamplerCost cost_;  // written by the sampling thread, read after it is joined
    std::thread thread_;
};

}  // namespace tp
