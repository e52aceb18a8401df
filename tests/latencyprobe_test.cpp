// latencyprobe end to end against a real embedded fibserver on loopback.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <vector>

#include "probe_results.hpp"
#include "report_input.hpp"
#include "request_clients.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "statistics.hpp"

namespace {

using nlohmann::json;
using tp::test::run_program;

json run_json(const std::string& program, std::vector<std::string> args) {
    return tp::test::run_for_json(program, std::move(args));
}

void check_ordered(const json& s) {
    CHECK(s["p50_ms"].get<double>() > 0);
    CHECK(s["p50_ms"] <= s["p90_ms"]);
    CHECK(s["p90_ms"] <= s["p99_ms"]);
    CHECK(s["p99_ms"] <= s["max_ms"]);
}

}  // namespace

TEST_CASE("two clients: every request timed, per client and overall", "[latencyprobe]") {
    const json r = run_json("latencyprobe", {"--clients=2", "--n=25", "--count=5"});
    CHECK(r["tool"] == "latencyprobe");
    const json& s = r["summary"];
    CHECK(s["overall"]["requests"] == 10);
    check_ordered(s["overall"]);
    REQUIRE(s["clients"].size() == 2);
    for (const auto& c : s["clients"]) {
        CHECK(c["requests"] == 5);
        CHECK(c["error"].is_null());
        check_ordered(c);
    }

    // What the report reads from a perf1 run, read by its own reader.
    const std::string name = "latency-threads-2";
    const auto results = tp::test::report_input(name, r);
    tp::test::check_context_as_the_report_reads_it(results, name);
    const tp::report::LatencyRun run = tp::report::read_latency(results, "threads", 2);
    CHECK(run.n == 25);
    std::vector<double> warm;
    for (const auto& client : run.latencies_ms) {
        CHECK(client.size() == 5);
        for (double ms : client) CHECK(ms > 0);
        warm.insert(warm.end(), client.begin() + 1, client.end());
    }
    // The median the report compares is that of the latencies it plots, each client's first
    // (its warm-up) left out.
    CHECK(run.p50_ms == tp::median(warm));

    // Whether the machine could run two clients' work in parallel, measured before they
    // started: two threads of fib together, against one alone. Two threads cannot finish
    // their two computations in less time than one takes for one (a speedup above 2), beyond
    // the noise of a few milliseconds' timing; and they do finish.
    const json& p = r["parallelism"];
    CHECK(p["threads"] == 2);
    CHECK(p["one_ms"].get<double>() > 0);
    CHECK(p["speedup"].get<double>() > 0.3);
    CHECK(p["speedup"].get<double>() <= 2 * 1.25);
    REQUIRE(run.parallel_speedup);
    CHECK(*run.parallel_speedup == p["speedup"].get<double>());
}

TEST_CASE("each PU's speed is checked on both sides of the run; one-pu computes on the fastest",
          "[latencyprobe]") {
    const json r = run_json("latencyprobe", {"--placement=one-pu", "--n=25", "--count=3"});
    const auto pus = r["context"]["topology"]["pus"].get<std::size_t>();
    std::vector<std::string> checked;
    for (const char* when : {"before", "after"}) {
        const json& check = r["speed_checks"][when];
        INFO(when);
        CHECK(check["fib_n"] == 32);
        // One PU at a time, every one this process may use.
        REQUIRE(check["pus"].size() == pus);
        for (const auto& pu : check["pus"]) {
            // fib(32) is millions of calls: at least a few hundred microseconds on any machine
            // of this decade, and under a second on any at all.
            CHECK(pu["fib_ms"].get<double>() > 0.1);
            CHECK(pu["fib_ms"].get<double>() < 1000);
            if (std::string(when) == "before") checked.push_back(pu["pu"]);
        }
    }
    // The client and its server ran on the PU the check before found fastest.
    const json& placement = r["config"]["placement"];
    CHECK(placement["mode"] == "one-pu");
    REQUIRE(placement["pu"].is_string());
    const json& before = r["speed_checks"]["before"]["pus"];
    const auto fastest =
        std::min_element(before.begin(), before.end(), [](const json& a, const json& b) {
            return a["fib_ms"].get<double>() < b["fib_ms"].get<double>();
        });
    CHECK(placement["pu"] == (*fastest)["pu"]);
    // The report's reader takes the checks of that PU alone.
    const auto results = tp::test::report_input("latency-threads-1", r);
    const auto run = tp::report::read_latency(results, "threads", 1);
    CHECK(run.speed.fib_ms.size() == 2);

    // The article's perf1 runs free: every PU's checks count.
    const json free = run_json("latencyprobe", {"--n=20", "--count=2"});
    CHECK(free["config"]["placement"]["mode"] == "free");
    CHECK(free["config"]["placement"]["pu"].is_null());
    const auto free_run =
        tp::report::read_latency(tp::test::report_input("latency-threads-1", free), "threads", 1);
    CHECK(free_run.speed.fib_ms.size() == 2 * pus);
}

TEST_CASE("a duration repeats for a while instead of a count", "[latencyprobe]") {
    // fib(27): a third of a millisecond of the server's time here, and long beside what the
    // client does between two requests (a clock read, a push_back), so that waiting for replies
    // is nearly all of the client's run, on any machine.
    constexpr double kDurationMs = 300;
    const json r = run_json("latencyprobe", {"--n=27", "--duration=300ms"});
    CHECK(r["config"]["count"].is_null());
    CHECK(r["config"]["duration_s"] == Approx(kDurationMs / 1000));
    CHECK(r["parallelism"].is_null());  // one client: nothing to run in parallel
    const json& client = r["summary"]["clients"][0];
    const auto latencies = client["latencies_ms"].get<std::vector<double>>();
    REQUIRE_FALSE(latencies.empty());
    CHECK(client["requests"] == latencies.size());
    CHECK(r["summary"]["overall"]["requests"] == latencies.size());
    const double waited_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0);
    // Each latency is rounded to a microsecond.
    const double rounding_ms = 0.0005 * static_cast<double>(latencies.size());
    // One client asks one request at a time, and asks again only before the deadline: every
    // reply but the last came within the duration...
    CHECK(waited_ms - latencies.back() < kDurationMs + rounding_ms);
    // ...and it stops asking only once the duration is over, so its waits cover most of it. A
    // probe that stopped early, or ignored --duration for its default count of 20 (a few ms of
    // fib(27)), falls far short; one that timed in microseconds lands far over.
    CHECK(waited_ms >= kDurationMs / 2);
    // What it timed fits in the time it ran.
    CHECK(waited_ms <= r["summary"]["elapsed_s"].get<double>() * 1000 + 0.5 + rounding_ms);
}

TEST_CASE("latencyprobe bad input: one line naming the flag, exit 2", "[latencyprobe]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--clients=0"}, "--clients"},
        {{"--count=0"}, "--count"},
        {{"--n=93"}, "--n"},
        {{"--count=3", "--duration=1s"}, "--count"},
        {{"--server-model=fork"}, "--server-model"},
        {{"--connect=here"}, "--connect"},
        {{"--workers=0"}, "--workers"},
        {{"--connect=127.0.0.1:25000", "--workers=2"}, "--workers"},
        {{"--placement=everywhere"}, "--placement"},
        {{"--placement=one-pu", "--clients=2"}, "--placement"},
    };
    for (const auto& [args, says] : cases) {
        const auto run = run_program("latencyprobe", args);
        INFO(args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("latencyprobe: error: ") && Catch::Contains(says) &&
                                Catch::EndsWith("(see --help)\n"));
    }
}
