// rateprobe end to end against a real embedded fibserver on loopback. Nothing asserts how many
// requests a second this machine answers: the checks are how the figures hang together.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "probe_results.hpp"
#include "report_input.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"

namespace {

using nlohmann::json;
using tp::test::run_program;

json run_json(std::vector<std::string> args) {
    return tp::test::run_for_json("rateprobe", std::move(args));
}

}  // namespace

TEST_CASE("without interference: a steady rate, one timeline entry a second", "[rateprobe]") {
    const json r = run_json({"--duration=2s"});
    CHECK(r["tool"] == "rateprobe");
    CHECK(r["timeline"].size() == 2);
    const json& s = r["summary"];
    CHECK(s["during_rps"].is_null());
    CHECK(s["drop_percent"].is_null());
    CHECK(s["recover_s"].is_null());
    CHECK(s["interference_start_s"].is_null());

    // Readings about every 20 ms from 0 to the end of the run, the count only ever growing.
    const json& readings = s["readings"];
    REQUIRE(readings.size() >= 3);
    CHECK(readings[0]["t_s"] == 0.0);
    CHECK(readings[0]["answered"] == 0);
    for (std::size_t i = 1; i < readings.size(); ++i) {
        CHECK(readings[i]["t_s"].get<double>() > readings[i - 1]["t_s"].get<double>());
        CHECK(readings[i]["answered"].get<double>() >= readings[i - 1]["answered"].get<double>());
    }
    const json& last = readings.back();
    CHECK(last["t_s"].get<double>() >= 2.0 - 0.1);
    CHECK(last["answered"].get<double>() > 0);
    // Each second's count is what the readings counted in it.
    std::uint64_t per_second = 0;
    for (const auto& second : r["timeline"]) per_second += second["requests"].get<std::uint64_t>();
    CHECK(per_second <= last["answered"].get<std::uint64_t>());
    // The baseline is the rate between the first reading after the warm-up's tenth of a second
    // and the last one (t to 0.1 ms).
    std::size_t first = 1;
    while (readings[first]["t_s"].get<double>() < 0.1) ++first;
    const json& warm = readings[first];
    const double rate = (last["answered"].get<double>() - warm["answered"].get<double>()) /
                        (last["t_s"].get<double>() - warm["t_s"].get<double>());
    CHECK(s["baseline_rps"].get<double>() == Approx(rate).epsilon(0.001));

    // How busy the machine was: a ping-pong of the probe with its server keeps at least one
    // of them running most of the time, and the probe's own CPU (the server's, reaped, with
    // it) is part of the machine's busy time, or of the time a hypervisor stole from it while
    // the probe ran (getrusage counts that as the probe's). /proc/stat counts in 10 ms ticks:
    // a few ticks per CPU either way, and the 0.01 the figures are rounded to.
    const json& load = r["load"];
    CHECK(load["wall_s"].get<double>() >= 2.0);
    CHECK(load["own_cores"].get<double>() > 0.3);
    const double slack = 0.02 + 4 * 0.01 *
                                    static_cast<double>(std::thread::hardware_concurrency()) /
                                    load["wall_s"].get<double>();
    CHECK(load["own_cores"].get<double>() <=
          load["busy_cores"].get<double>() + load["steal_cores"].get<double>() + slack);
    CHECK(load["other_cores"].get<double>() >= 0);
}

TEST_CASE("with interference: the long request is timed and the rate during it measured",
          "[rateprobe]") {
    const json r = run_json({"--duration=3s", "--interfere=38@1s"});
    const json& s = r["summary"];
    CHECK(s["interference_start_s"].get<double>() >= 1.0);
    CHECK(s["interference_end_s"].get<double>() > s["interference_start_s"].get<double>());
    const double baseline = s["baseline_rps"].get<double>();
    const double during = s["during_rps"].get<double>();
    REQUIRE(baseline > 0);
    CHECK(s["drop_percent"].get<double>() == Approx(100 * (1 - during / baseline)).margin(0.02));

    // What the report reads from a perf2 run, read by its own reader.
    const std::string name = "rate-threads";
    const auto results = tp::test::report_input(name, r);
    tp::test::check_context_as_the_report_reads_it(results, name);
    const tp::report::RateRun run = tp::report::read_rate(results, "threads");
    CHECK(run.interfere_n == 38);
    CHECK(run.duration_s == 3);
    CHECK(run.window_start_s >= 1.0);
    REQUIRE(run.window_end_s);
    CHECK(*run.window_end_s > run.window_start_s);
    CHECK(run.baseline_rps == baseline);
    // The timeline the report draws accounts for every request answered, no more.
    REQUIRE_FALSE(run.timeline.empty());
    double answered = 0, last_t = 0;
    for (const auto& point : run.timeline) {
        CHECK(point.t_s > last_t);
        CHECK(point.rps >= 0);
        answered += point.rps * (point.t_s - last_t);
        last_t = point.t_s;
    }
    const json& last = s["readings"].back();
    CHECK(last_t == last["t_s"].get<double>());
    CHECK(answered == Approx(last["answered"].get<double>()).epsilon(1e-9));
}

TEST_CASE("placement: the ping-pong on one PU, the long request's task on the others",
          "[rateprobe]") {
    // fib(40) computes for about a tenth of a second without sleeping: long beside the 40 ms
    // it takes to be found.
    const json r = run_json({"--duration=2s", "--interfere=40@1s"});
    const json& placement = r["config"]["placement"];
    CHECK(placement["mode"] == "one-pu");
    REQUIRE(placement["pu"].is_string());
    CHECK(placement["server_pinned"] == true);
    // The PU the speed check just before found fastest: a host may be running another at half
    // speed.
    const json& before = r["speed_checks"]["before"]["pus"];
    const auto fastest =
        std::min_element(before.begin(), before.end(), [](const json& a, const json& b) {
            return a["fib_ms"].get<double>() < b["fib_ms"].get<double>();
        });
    REQUIRE(fastest != before.end());
    CHECK(placement["pu"] == (*fastest)["pu"]);
    CHECK(r["speed_checks"]["after"]["pus"].size() == before.size());
    const auto pus = r["context"]["topology"]["pus"].get<unsigned>();
    if (pus >= 2) {
        // The thread computing fib(40), alone: no task of the ping-pong computes unbroken.
        CHECK(placement["long_request_tasks_moved"] == 1);
        // Native threads, the long request on a PU of its own: it does not take half the
        // tiny requests' rate, as it would sharing theirs.
        CHECK(r["summary"]["drop_percent"].get<double>() < 50);
    } else {
        WARN("one PU here: the long request's task has nowhere else to go");
        CHECK(placement["long_request_tasks_moved"] == 0);
    }

    const json free = run_json({"--duration=1s", "--placement=free"});
    CHECK(free["config"]["placement"]["mode"] == "free");
    CHECK(free["config"]["placement"]["pu"].is_null());
    CHECK(free["config"]["placement"]["long_request_tasks_moved"] == 0);
}

TEST_CASE("rateprobe bad input: one line naming the flag, exit 2", "[rateprobe]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--interfere=40"}, "--interfere"},
        {{"--interfere=x@1s"}, "--interfere"},
        {{"--interfere=99@1s"}, "--interfere"},
        {{"--interfere=40@later"}, "--interfere"},
        {{"--duration=2s", "--interfere=40@5s"}, "--interfere"},
        {{"--duration=0s"}, "--duration"},
        {{"--connections=0"}, "--connections"},
        {{"--switch-interval=0s"}, "--switch-interval"},
        {{"--placement=everywhere"}, "--placement"},
        {{"--interfere=spam:x@1s"}, "--interfere"},
        {{"--interfere=spam:@1s"}, "--interfere"},
        {{"--interfere=spam:1234567890123456789@1s"}, "--interfere"},
        {{"--sigint"}, "--sigint"},  // no long request to interrupt
        {{"--sigint", "--interfere=30@1s", "--connect=127.0.0.1:9"}, "--sigint"},
    };
    for (const auto& [args, says] : cases) {
        const auto run = run_program("rateprobe", args);
        INFO(args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("rateprobe: error: ") && Catch::Contains(says) &&
                                Catch::EndsWith("(see --help)\n"));
    }
}

TEST_CASE(
    "the uninterruptible instruction: under the gil model nothing else runs and SIGINT "
    "waits for it, the threads model does neither",
    "[rateprobe]") {
    // 'spam' in range(6*10^7): about half a second of fibserver's loop; a quarter of it under
    // sanitizers, whose checks make each element several times slower.
    const std::string model = GENERATE(std::string("gil"), std::string("threads"));
    CAPTURE(model);
    const std::string count = tp::test::kSanitized ? "15000000" : "60000000";
    const json r = run_json({"--duration=3s", "--interfere=spam:" + count + "@500ms", "--sigint",
                             "--server-model=" + model});
    const json& s = r["summary"];
    CHECK(r["config"]["interfere"]["request"] == "spam " + count);
    CHECK(s["error"].is_null());  // its reply was "False"
    REQUIRE_FALSE(s["interference_end_s"].is_null());
    REQUIRE_FALSE(s["during_rps"].is_null());
    const json& interrupt = s["interrupt"];
    REQUIRE(interrupt.is_object());
    REQUIRE_FALSE(interrupt["stop_s"].is_null());
    // Timed twice, in the rate run and just before the SIGINT; the shorter of the two counts.
    REQUIRE_FALSE(interrupt["again_s"].is_null());
    CHECK(
        interrupt["request_s"].get<double>() ==
        Approx(std::min(interrupt["rate_run_s"].get<double>(), interrupt["again_s"].get<double>()))
            .margin(1e-4));
    const double remaining =
        interrupt["request_s"].get<double>() - interrupt["sent_after_s"].get<double>();
    REQUIRE(remaining > 0);
    if (model == "gil") {
        // The thread holding the lock never offers it: no tiny request between its start and
        // its end (10 a second at most, for one answered in the instant it hands the lock
        // back), and the stop waits for the lock as CPython's main thread does.
        CHECK(s["during_rps"].get<double>() < 10);
        CHECK(interrupt["stop_s"].get<double>() >= 0.5 * remaining);
    } else {
        // Native threads: the tiny requests go on beside it, and SIGINT ends the process
        // whatever its threads are doing.
        CHECK(s["during_rps"].get<double>() > 0.5 * s["baseline_rps"].get<double>());
        CHECK(interrupt["stop_s"].get<double>() < 0.5 * remaining);
    }
}
