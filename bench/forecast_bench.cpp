#include "forecast_bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "child_process.hpp"
#include "procfs.hpp"

namespace tp::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRunTimeout = std::chrono::minutes(3);

double timed_run(const Environment& env, const std::vector<std::string>& args) {
    const auto start = Clock::now();
    run_to_end(env.program("limitprobe"), args, kRunTimeout);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The fewest tasks left under the machine's lower task ceiling while `run` runs.
template <typename Run>
std::optional<std::uint64_t> least_free_during(Run&& run) {
    const ProcFs fs;
    const auto pid_max = fs.sysctl("kernel.pid_max");
    const auto threads_max = fs.sysctl("kernel.threads-max");
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> peak{0};
    std::thread watcher([&] {
        while (!done) {
            if (const auto tasks = fs.tasks(); tasks && *tasks > peak) peak = *tasks;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    try {
        run();
    } catch (...) {
        done = true;
        watcher.join();
        throw;
    }
    done = true;
    watcher.join();
    if (!pid_max || !threads_max) return std::nullopt;
    const std::uint64_t ceiling = std::min(*pid_max, *threads_max);
    return ceiling > peak ? ceiling - peak : 0;
}

}  // namespace

ForecastResult run_forecast_bench(const ForecastConfig& config, const Environment& env) {
    ForecastResult r;
    r.config = config;
    const std::vector<std::string> forecast = {"--forecast", "--stack", "16k,64k,default",
                                               "--quiet"};
    const std::vector<std::string> search = {"--stack", "16k", "--quiet"};
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        env.progress(fmt::format("forecast {}/{}", rep + 1, config.repetitions));
        // Alternate which goes first, so neither always follows the other's teardown.
        double forecast_s = 0, search_s = 0;
        const auto run_search = [&] {
            const auto free = least_free_during([&] { search_s = timed_run(env, search); });
            if (free && (!r.least_tasks_free || *free < *r.least_tasks_free))
                r.least_tasks_free = free;
        };
        if (rep % 2 == 0) {
            forecast_s = timed_run(env, forecast);
            run_search();
        } else {
            run_search();
            forecast_s = timed_run(env, forecast);
        }
        r.forecast_s.add(forecast_s);
        r.search_s.add(search_s);
    }
    r.ratio = paired_ratios(r.forecast_s, r.search_s);
    return r;
}

nlohmann::json to_json(const ForecastResult& r) {
    return {{"forecast", "limitprobe --forecast --stack 16k,64k,default"},
            {"search", "limitprobe --stack 16k (to the safety margin)"},
            {"forecast_s", to_json(r.forecast_s)},
            {"search_s", to_json(r.search_s)},
            {"ratio", to_json(r.ratio)},
            {"least_tasks_free",
             r.least_tasks_free ? nlohmann::json(*r.least_tasks_free) : nlohmann::json(nullptr)}};
}

}  // namespace tp::bench
