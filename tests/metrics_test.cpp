// The forecast as Prometheus series: the headroom share an alert compares, and labels that say
// whose figures they are without a series per run or per thread.
#include <catch2/catch.hpp>

#include "forecast_metrics.hpp"
#include "metrics_file.hpp"

namespace {

tp::LimitReading limit(const std::string& name, std::optional<std::uint64_t> current,
                       std::optional<std::uint64_t> ceiling, std::uint64_t reserved = 0) {
    tp::LimitReading r;
    r.name = name;
    r.unit = "tasks";
    r.current = current;
    r.ceiling = ceiling;
    r.reserved = reserved;
    return r;
}

}  // namespace

TEST_CASE("metrics: a limit's headroom share is what is free of what the kernel hands out") {
    CHECK(*tp::headroom_ratio(limit("pids cgroup", 540, 600)) == Approx(0.1));
    // pid_max: the reserved pids are never free, so an idle machine's share is 1, not less.
    CHECK(*tp::headroom_ratio(limit("pid_max", 0, 32768, 300)) == Approx(1.0));
    CHECK(*tp::headroom_ratio(limit("pid_max", 32468, 32768, 300)) == Approx(0.0));
    // Past the ceiling (a cgroup lowered under its tasks): none left, not a negative share.
    CHECK(*tp::headroom_ratio(limit("pids cgroup", 700, 600)) == 0.0);
    CHECK_FALSE(tp::headroom_ratio(limit("pids cgroup", 10, std::nullopt)));
    CHECK_FALSE(tp::headroom_ratio(limit("RLIMIT_NPROC", std::nullopt, 100)));
    CHECK_FALSE(tp::headroom_ratio(limit("odd", 0, 300, 300)));
}

TEST_CASE("metrics: the host's forecast has no pid, a process's has its pid and name") {
    tp::StackForecast f;
    f.cost.stack_bytes = 65536;
    f.current_threads = 40;
    f.threads = 600;
    f.binding_limit = "pids cgroup";
    f.limits = {limit("pids cgroup", 40, 600), limit("threads-max", 1000, std::nullopt)};

    prometheus::Registry host;
    tp::add_forecast_metrics(host, tp::MetricsSubject::host(), {f});
    const std::string h = tp::exposition(host);
    INFO(h);
    CHECK(h.find("threadprobe_forecast_binding_limit_info{limit=\"pids cgroup\",scope=\"host\","
                 "stack_bytes=\"65536\"} 1\n") != std::string::npos);
    CHECK(h.find("threadprobe_forecast_headroom_threads{scope=\"host\",stack_bytes=\"65536\"} "
                 "560\n") != std::string::npos);
    CHECK(h.find("pid=") == std::string::npos);
    // A limit without a ceiling has no headroom to export, rather than a made-up one.
    CHECK(h.find("threads-max") == std::string::npos);
    // Nothing measured for the cost: no per-thread cost series.
    CHECK(h.find("threadprobe_thread_cost_resident_bytes{") == std::string::npos);

    prometheus::Registry process;
    tp::add_forecast_metrics(process, tp::MetricsSubject::process(4242, "nginx"), {f});
    const std::string p = tp::exposition(process);
    INFO(p);
    CHECK(p.find("threadprobe_forecast_threads{pid=\"4242\",process=\"nginx\",scope=\"process\","
                 "stack_bytes=\"65536\"} 600\n") != std::string::npos);
}
