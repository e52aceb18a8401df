// The report layer: claims, verdicts and renderings, against a real results folder
// (tests/fixtures/report, from a scripts/reproduce --quick run).
#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "claims.hpp"
#include "document.hpp"
#include "gnuplot.hpp"
#include "probe_results.hpp"
#include "results.hpp"

namespace {

using tp::report::Claim;
using tp::report::Results;
using tp::report::ResultsError;
using tp::report::Verdict;

const std::string kFixture = std::string(TP_FIXTURES_DIR) + "/report/results";

// The claim whose article text starts with `start`; fails the test if there is none.
Claim claim_starting(const std::vector<Claim>& claims, const std::string& start) {
    const auto it = std::find_if(claims.begin(), claims.end(),
                                 [&](const Claim& c) { return c.article.rfind(start, 0) == 0; });
    REQUIRE(it != claims.end());
    return *it;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ResultsError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("every claim is judged from the fixture run", "[report]") {
    const Results results = Results::load(kFixture);
    const auto claims = tp::report::evaluate_claims(results);
    CHECK(claims.size() >= 16);
    for (const auto& c : claims) {
        INFO(c.article);
        CHECK_FALSE(c.measured.empty());
        CHECK_FALSE(c.rule.empty());
        CHECK_FALSE(c.sources.empty());
        for (const auto& source : c.sources) CHECK(results.has(source));
    }
    // What the fixture measured: the emulated GIL doubles latency (x3.52), the pool on this
    // loaded 2-core VM cost 63% of the rate, not the article's 95%.
    CHECK(claim_starting(claims, "Two clients making CPU-bound").verdict == Verdict::holds);
    CHECK(claim_starting(claims, "A process pool lowers").verdict == Verdict::differs);
    CHECK(claim_starting(claims, "By default each thread").verdict == Verdict::holds);
}

TEST_CASE("a verdict follows its figure", "[report]") {
    Results results = Results::load(kFixture);
    const std::string gil = "Under the GIL, one long CPU-bound request";
    REQUIRE(claim_starting(tp::report::evaluate_claims(results), gil).verdict == Verdict::holds);

    SECTION("the GIL's drop shrinks to 50%: differs") {
        results.edit("rate-gil")["summary"]["drop_percent"] = 50.0;
        const Claim c = claim_starting(tp::report::evaluate_claims(results), gil);
        CHECK(c.verdict == Verdict::differs);
        CHECK_THAT(c.measured, Catch::Contains("its drop while fib(42) ran: 50.0%"));
    }
    SECTION("the long request never overlapped the run: does not apply") {
        results.edit("rate-gil")["summary"]["drop_percent"] = nullptr;
        results.edit("rate-gil")["summary"]["during_rps"] = nullptr;
        CHECK(claim_starting(tp::report::evaluate_claims(results), gil).verdict ==
              Verdict::does_not_apply);
    }
    SECTION("the uninterruptible instruction: silence and a stop that waits, or not") {
        // The fixture has no CPython: judged on the emulation's real run (0 requests/s during
        // it, SIGINT 0.208 s with 0.209 s of it left).
        const std::string spam = "A single uninterruptible instruction";
        const Claim measured = claim_starting(tp::report::evaluate_claims(results), spam);
        CHECK(measured.verdict == Verdict::holds);
        CHECK_THAT(measured.measured,
                   Catch::Contains("0 tiny requests/s") && Catch::Contains("CPython not measured"));
        auto& summary = results.edit("spam-gil")["summary"];
        summary["during_rps"] = 95.0;  // a switch interval's worth got through
        CHECK(claim_starting(tp::report::evaluate_claims(results), spam).verdict ==
              Verdict::differs);
        summary["during_rps"] = 0.0;
        summary["interrupt"]["stop_s"] = 0.006;  // stopped at once: the lock was offered
        CHECK(claim_starting(tp::report::evaluate_claims(results), spam).verdict ==
              Verdict::differs);
        summary["interrupt"] = nullptr;  // not measured: does not apply
        CHECK(claim_starting(tp::report::evaluate_claims(results), spam).verdict ==
              Verdict::does_not_apply);
    }
    SECTION("two native-thread clients no slower than one: holds") {
        const std::string native = "Native threads without a GIL";
        REQUIRE(claim_starting(tp::report::evaluate_claims(results), native).verdict ==
                Verdict::differs);
        // Every request of the two clients 10% slower than one client's median.
        const double one = tp::report::read_latency(results, "threads", 1).p50_ms;
        for (auto& client : results.edit("latency-threads-2")["summary"]["clients"])
            for (auto& ms : client["latencies_ms"]) ms = one * 1.1;
        CHECK(claim_starting(tp::report::evaluate_claims(results), native).verdict ==
              Verdict::holds);
    }
    SECTION("two PUs that compute no faster together than one: does not apply") {
        const std::string native = "Native threads without a GIL";
        results.edit("latency-threads-2")["parallelism"] = {
            {"threads", 2}, {"one_ms", 12.0}, {"together_ms", 22.0}, {"speedup", 1.09}};
        const Claim c = claim_starting(tp::report::evaluate_claims(results), native);
        CHECK(c.verdict == Verdict::does_not_apply);
        CHECK_THAT(c.measured, Catch::Contains("side by side at x1.09"));
        // Two that do: judged on the latencies again (the fixture's threads differ).
        results.edit("latency-threads-2")["parallelism"]["together_ms"] = 12.3;
        results.edit("latency-threads-2")["parallelism"]["speedup"] = 1.95;
        CHECK(claim_starting(tp::report::evaluate_claims(results), native).verdict ==
              Verdict::differs);
    }
    SECTION("the socket's kernel memory, the same in both models, narrows the ratio") {
        const std::string tens = "Tens of thousands of open connections";
        // The fixture predates slab readings: judged on user memory and kernel stacks alone.
        const Claim before = claim_starting(tp::report::evaluate_claims(results), tens);
        CHECK_THAT(before.measured, Catch::Contains("socket kernel memory not measured"));
        const double threads_kib =
            tp::report::read_scale(results, "threads").total_kib_per_connection();
        const double epoll_kib =
            tp::report::read_scale(results, "epoll").total_kib_per_connection();
        REQUIRE(threads_kib / epoll_kib >= 10);
        // A socket as big as the threads model's whole cost per connection brings the ratio
        // under 2: with no limit below 20,000 the claim no longer holds.
        for (const char* name : {"scale-threads", "scale-epoll"}) {
            auto& system = results.edit(name)["summary"]["system"];
            system["socket_kernel_kib_per_end"] = threads_kib;
            system["socket_kernel"] = {{"source", "/proc/slabinfo"},
                                       {"ends", 2},
                                       {"kib_per_end", threads_kib},
                                       {"caches", nlohmann::json::array()}};
        }
        const auto threads = tp::report::read_scale(results, "threads");
        CHECK(threads.total_kib_per_connection() == Approx(2 * threads_kib));
        results.edit("limitprobe-connections")["results"][0]["threads_reached"] = 30000;
        const Claim after = claim_starting(tp::report::evaluate_claims(results), tens);
        CHECK_THAT(after.measured,
                   Catch::Contains(fmt::format("{:.1f} socket kernel memory", threads_kib)));
        CHECK(after.verdict == Verdict::differs);
    }
    SECTION("a machine whose stacks default to 16 MiB: the 8 MB claim differs") {
        results.edit("threadprobe-default-1000")["summary"]["probe"]["vsz_per_thread_kib"] =
            16388.0;
        CHECK(claim_starting(tp::report::evaluate_claims(results), "By default each thread")
                  .verdict == Verdict::differs);
    }
    SECTION("overcommit mode 2 enforces the commit limit: the swap claim differs") {
        // As the probe writes it in mode 2: enforced, and no note saying why not.
        auto& limits = results.edit("threadprobe-default-1000")["context"]["limits"];
        for (auto& l : limits) {
            if (l["limit"] != "commit limit") continue;
            l["enforced"] = true;
            l.erase("note");
        }
        const Claim c =
            claim_starting(tp::report::evaluate_claims(results), "Linux reserves no swap");
        CHECK(c.verdict == Verdict::differs);
        CHECK_THAT(c.measured, Catch::Contains("enforced"));
    }
}

namespace {

// The fixture as a run with three repetitions of the GIL's perf1: each latency-gil-K.json is
// latency-gil-K.r1, .r2 and .r3, each of the second client count's latencies scaled by its
// factor (1.0 keeps the fixture's x3.5 ratio).
Results with_gil_repetitions(const std::vector<double>& factors) {
    const Results fixture = Results::load(kFixture);
    std::map<std::string, nlohmann::json> documents;
    for (const auto& name : fixture.names_starting_with(""))
        if (name != "latency-gil-1" && name != "latency-gil-2")
            documents[name] = fixture.document(name);
    for (std::size_t i = 0; i < factors.size(); ++i) {
        const std::string rep = ".r" + std::to_string(i + 1);
        documents["latency-gil-1" + rep] = fixture.document("latency-gil-1");
        nlohmann::json two = fixture.document("latency-gil-2");
        for (auto& client : two["summary"]["clients"])
            for (auto& ms : client["latencies_ms"]) ms = ms.get<double>() * factors[i];
        documents["latency-gil-2" + rep] = two;
    }
    return Results(kFixture, documents, fixture.experiments());
}

}  // namespace

TEST_CASE("a verdict is decided on the range of its repetitions", "[report]") {
    const std::string gil = "Two clients making CPU-bound";
    const double ratio = [] {
        const Results fixture = Results::load(kFixture);
        return tp::report::read_latency(fixture, "gil", 2).faster_client_p50_ms /
               tp::report::read_latency(fixture, "gil", 1).p50_ms;
    }();
    REQUIRE(ratio > 1.7 * 1.2);
    SECTION("every repetition above the threshold: holds") {
        const Claim c = claim_starting(
            tp::report::evaluate_claims(with_gil_repetitions({1.0, 1.1, 0.95})), gil);
        CHECK(c.verdict == Verdict::holds);
        REQUIRE(c.figures.size() == 1);
        CHECK(c.figures[0].spread.repetitions == 3);
        CHECK(c.figures[0].spread.min == Approx(ratio * 0.95));
        CHECK(c.figures[0].spread.max == Approx(ratio * 1.1));
        CHECK(c.figures[0].spread.median == Approx(ratio));
        CHECK_THAT(c.measured, Catch::Contains("3 runs"));
        CHECK(c.sources.size() == 6);
    }
    SECTION("one repetition below it: inconclusive, not a coin flip") {
        const double below = 1.5 / ratio;
        const Claim c = claim_starting(
            tp::report::evaluate_claims(with_gil_repetitions({1.0, below, 1.0})), gil);
        CHECK(c.verdict == Verdict::inconclusive);
        CHECK(c.threshold == Approx(1.7));
    }
    SECTION("every repetition below it: differs") {
        const Claim c = claim_starting(
            tp::report::evaluate_claims(with_gil_repetitions({1.5 / ratio, 1.2 / ratio})), gil);
        CHECK(c.verdict == Verdict::differs);
    }
}

namespace {

// A speed check as latencyprobe and rateprobe write it: fib(32) on PU "0" and PU "1".
nlohmann::json speed_check(double pu0_ms, double pu1_ms) {
    return {{"fib_n", 32},
            {"pus", {{{"pu", "0"}, {"fib_ms", pu0_ms}}, {{"pu", "1"}, {"fib_ms", pu1_ms}}}}};
}

// The GIL's perf1 repetitions with both PUs at full speed (1.5 ms) around every run but the
// 2-client run of repetition `slowed`, after which PU "0" took twice that (`slowed` 0: none).
Results with_speed_checks(Results results, std::size_t repetitions, std::size_t slowed) {
    for (std::size_t i = 1; i <= repetitions; ++i)
        for (const std::string clients : {"1", "2"}) {
            nlohmann::json& doc = results.edit(fmt::format("latency-gil-{}.r{}", clients, i));
            doc["speed_checks"] = {{"before", speed_check(1.5, 1.52)},
                                   {"after", speed_check(1.51, 1.5)}};
            if (i == slowed && clients == "2") doc["speed_checks"]["after"] = speed_check(3.0, 1.5);
        }
    return results;
}

}  // namespace

TEST_CASE("a repetition around which the host slowed a PU is left out, and said so", "[report]") {
    const std::string gil = "Two clients making CPU-bound";
    const double below = [] {
        const Results fixture = Results::load(kFixture);
        return 1.5 / (tp::report::read_latency(fixture, "gil", 2).faster_client_p50_ms /
                      tp::report::read_latency(fixture, "gil", 1).p50_ms);
    }();
    // Repetition 2's ratio of 1.5 against a rule of 1.7: inconclusive where it counts.
    const Results straddling = with_gil_repetitions({1.0, below, 1.0});
    SECTION("every PU at full speed around every run: all judged") {
        const Claim c =
            claim_starting(tp::report::evaluate_claims(with_speed_checks(straddling, 3, 0)), gil);
        CHECK(c.verdict == Verdict::inconclusive);
        CHECK_THAT(c.measured, Catch::Contains("3 runs") && !Catch::Contains("left out"));
    }
    SECTION("a PU at half speed after the low one: left out, holds") {
        const Claim c =
            claim_starting(tp::report::evaluate_claims(with_speed_checks(straddling, 3, 2)), gil);
        CHECK(c.verdict == Verdict::holds);
        CHECK(c.figures[0].spread.repetitions == 2);
        CHECK_THAT(c.measured,
                   Catch::Contains("1 of 3 repetitions left out: around it the host ran a PU at "
                                   "only 50% of its full speed"));
    }
    SECTION("the header and report.json say how fast the host let each run compute") {
        const Results slowed = with_speed_checks(straddling, 3, 2);
        // Only the GIL's perf1 ran, as experiments.tsv lists them.
        std::map<std::string, nlohmann::json> documents;
        std::vector<tp::report::ExperimentRun> runs;
        for (const auto& name : slowed.names_starting_with("")) {
            documents[name] = slowed.document(name);
            if (name.rfind("latency-gil-", 0) == 0) runs.push_back({name, 0.5, 0, "latencyprobe"});
        }
        const Results results(kFixture, documents, runs);
        const auto claims = tp::report::evaluate_claims(results);
        CHECK_THAT(tp::report::to_markdown(tp::report::build_report(results, claims, {}, {})),
                   Catch::Contains("- host speed: the fastest PU computed the speed check") &&
                       Catch::Contains("in 1.50 ms; around 1 of the 6 runs a PU they computed on "
                                       "ran below 80% of that speed (the slowest at 50%, "
                                       "latency-gil-2.r2)"));
        const nlohmann::json data = tp::report::report_data(results, claims, {"", "", ""});
        REQUIRE(data["runs"].size() == 6);
        for (const auto& run : data["runs"]) {
            INFO(run.dump());
            CHECK(run["host_speed_share"].get<double>() ==
                  Approx(run["name"] == "latency-gil-2.r2" ? 0.5 : 1.0).epsilon(0.02));
        }
    }
    SECTION("at 81% of full speed it counts: the line is at 80%") {
        Results results = with_speed_checks(straddling, 3, 2);
        results.edit("latency-gil-2.r2")["speed_checks"]["after"] = speed_check(1.5 / 0.81, 1.5);
        const Claim c = claim_starting(tp::report::evaluate_claims(results), gil);
        CHECK(c.verdict == Verdict::inconclusive);
    }
    SECTION("a run pinned to one PU counts that PU's checks alone") {
        Results results = with_speed_checks(straddling, 3, 0);
        // Repetition 2's one client on PU 1, PU 0 at half speed meanwhile: not the run's PU.
        nlohmann::json& one = results.edit("latency-gil-1.r2");
        one["config"]["placement"] = {{"mode", "one-pu"}, {"pu", "1"}};
        one["speed_checks"]["after"] = speed_check(3.0, 1.5);
        CHECK(claim_starting(tp::report::evaluate_claims(results), gil).verdict ==
              Verdict::inconclusive);
        one["config"]["placement"]["pu"] = "0";
        CHECK(claim_starting(tp::report::evaluate_claims(results), gil).verdict == Verdict::holds);
    }
    SECTION("slowed around every repetition: judged on them all, and said so") {
        Results results = with_speed_checks(straddling, 3, 0);
        for (const auto& name : results.names_starting_with("latency-gil-2.r"))
            results.edit(name)["speed_checks"]["before"] = speed_check(1.5, 2.9);
        const Claim c = claim_starting(tp::report::evaluate_claims(results), gil);
        CHECK(c.verdict == Verdict::inconclusive);
        CHECK_THAT(c.measured,
                   Catch::Contains("around every repetition the host ran a PU at only 52% (52% to "
                                   "52%, 3 runs) of its full speed: judged on them all"));
    }
}

namespace {

// The fixture's threads perf1 as three repetitions, each 2-client run's requests at
// `ratio[i]` times the 1-client median, with two threads' speedup `before[i]` and `after[i]`
// measured around it.
Results with_threads_repetitions(const std::vector<double>& ratio,
                                 const std::vector<double>& before,
                                 const std::vector<double>& after) {
    const Results fixture = Results::load(kFixture);
    std::map<std::string, nlohmann::json> documents;
    for (const auto& name : fixture.names_starting_with(""))
        if (name != "latency-threads-1" && name != "latency-threads-2")
            documents[name] = fixture.document(name);
    const double one = tp::report::read_latency(fixture, "threads", 1).p50_ms;
    auto speedup = [](double s) {
        return nlohmann::json{
            {"threads", 2}, {"one_ms", 7.0}, {"together_ms", 14.0 / s}, {"speedup", s}};
    };
    for (std::size_t i = 0; i < ratio.size(); ++i) {
        const std::string rep = ".r" + std::to_string(i + 1);
        documents["latency-threads-1" + rep] = fixture.document("latency-threads-1");
        nlohmann::json two = fixture.document("latency-threads-2");
        for (auto& client : two["summary"]["clients"])
            for (auto& ms : client["latencies_ms"]) ms = one * ratio[i];
        two["parallelism"] = speedup(before[i]);
        two["parallelism_after"] = speedup(after[i]);
        documents["latency-threads-2" + rep] = two;
    }
    return Results(kFixture, documents, fixture.experiments());
}

}  // namespace

TEST_CASE("a repetition around which the PUs did not compute together is left out", "[report]") {
    const std::string native = "Native threads without a GIL";
    SECTION("the PUs there around every repetition: all judged, and one at x2 is no hold") {
        const Claim c = claim_starting(tp::report::evaluate_claims(with_threads_repetitions(
                                           {1.05, 2.0, 1.1}, {1.95, 1.98, 1.97}, {1.99, 1.9, 2.0})),
                                       native);
        CHECK(c.verdict == Verdict::inconclusive);
        CHECK_THAT(c.measured, Catch::Contains("3 runs"));
    }
    for (const bool low_after : {false, true}) {
        DYNAMIC_SECTION("the x2 repetition had one PU's worth " << (low_after ? "after" : "before")
                                                                << " it: left out, holds") {
            const std::vector<double> good{1.95, 1.98, 1.97};
            std::vector<double> low = good;
            low[1] = 1.1;
            const Claim c = claim_starting(
                tp::report::evaluate_claims(with_threads_repetitions(
                    {1.05, 2.0, 1.1}, low_after ? good : low, low_after ? low : good)),
                native);
            CHECK(c.verdict == Verdict::holds);
            CHECK_THAT(c.measured, Catch::Contains("2 runs"));
            CHECK_THAT(c.measured, Catch::Contains("1 of 3 repetitions left out"));
            CHECK_THAT(c.measured, Catch::Contains("x1.10"));
        }
    }
    SECTION(
        "the machine at half speed around one: two threads at x2 of a slow one are not two "
        "PUs") {
        Results results =
            with_threads_repetitions({1.05, 2.0, 1.1}, {1.95, 1.98, 1.97}, {1.99, 1.9, 2.0});
        // Repetition 2's check after: one thread 14 ms, two together 14 ms: x2 of itself, but
        // each at half the speed the other checks found.
        results.edit("latency-threads-2.r2")["parallelism_after"] = {
            {"threads", 2}, {"one_ms", 14.0}, {"together_ms", 14.0}, {"speedup", 2.0}};
        const Claim c = claim_starting(tp::report::evaluate_claims(results), native);
        CHECK(c.verdict == Verdict::holds);
        CHECK_THAT(c.measured, Catch::Contains("1 of 3 repetitions left out") &&
                                   Catch::Contains("at only x1.00"));
    }
    SECTION("the host slowed a PU around every repetition: does not apply, not x1.4 differs") {
        // One client on the fast PU, two on both: the one on the slow PU takes twice as long.
        Results results =
            with_threads_repetitions({1.4, 1.35, 1.4}, {1.95, 1.98, 1.97}, {1.99, 1.9, 2.0});
        for (const auto& name : results.names_starting_with("latency-threads-"))
            results.edit(name)["speed_checks"] = {{"before", speed_check(2.9, 1.5)},
                                                  {"after", speed_check(2.8, 1.5)}};
        const Claim c = claim_starting(tp::report::evaluate_claims(results), native);
        CHECK(c.verdict == Verdict::does_not_apply);
        CHECK_THAT(c.measured, Catch::Contains("around every repetition the host ran a PU at "
                                               "only 52% (52% to 52%, 3 runs) of its full speed: "
                                               "two PUs at full speed, which the claim needs, "
                                               "were not there around any"));
    }
    SECTION("none had the PUs: does not apply") {
        const Claim c = claim_starting(tp::report::evaluate_claims(with_threads_repetitions(
                                           {1.05, 2.0, 1.1}, {1.1, 1.2, 1.0}, {1.9, 1.9, 1.9})),
                                       native);
        CHECK(c.verdict == Verdict::does_not_apply);
    }
}

TEST_CASE("a figure measured beside other work is flagged in the claims table", "[report]") {
    Results results = Results::load(kFixture);
    const std::string gil = "Two clients making CPU-bound";
    CHECK_FALSE(claim_starting(tp::report::evaluate_claims(results), gil).measured_while_busy());
    results.edit("latency-gil-2")["load"] = {
        {"wall_s", 1.0}, {"busy_cores", 1.9}, {"own_cores", 1.1}, {"other_cores", 0.8}};
    const auto claims = tp::report::evaluate_claims(results);
    const Claim c = claim_starting(claims, gil);
    CHECK(c.measured_while_busy());
    const std::string md =
        tp::report::to_markdown(tp::report::build_report(results, claims, {}, {}));
    CHECK_THAT(md, Catch::Contains("[measured while other work took up to 0.8 cores]"));
    CHECK_THAT(md, Catch::Contains("machine load: work other than the probes took"));
}

TEST_CASE("report.json carries every claim with its id, rule and figures", "[report]") {
    const Results results = Results::load(kFixture);
    const auto claims = tp::report::evaluate_claims(results);
    const nlohmann::json data =
        tp::report::report_data(results, claims, {"scripts/reproduce", "", ""});
    CHECK(data["machine"]["kernel"].is_string());
    CHECK(data["runs"].size() == results.experiments().size());
    REQUIRE(data["claims"].size() == claims.size());
    std::set<std::string> ids;
    for (const auto& c : data["claims"]) {
        INFO(c.dump());
        ids.insert(c["id"].get<std::string>());
        CHECK_FALSE(c["id"].get<std::string>().empty());
        for (const char* key : {"statement", "measured", "verdict", "rule"})
            CHECK(c[key].is_string());
        CHECK(c.contains("threshold"));
        for (const auto& f : c["figures"]) {
            CHECK(f["min"].get<double>() <= f["median"].get<double>());
            CHECK(f["median"].get<double>() <= f["max"].get<double>());
            CHECK(f["repetitions"].get<int>() >= 1);
            CHECK(f["unit"].is_string());
        }
    }
    CHECK(ids.size() == claims.size());  // unique
}

TEST_CASE("a missing result names the file and the key", "[report]") {
    Results results = Results::load(kFixture);
    SECTION("a key") {
        results.edit("rate-pool")["summary"].erase("baseline_rps");
        const std::string e = error_of([&] { tp::report::evaluate_claims(results); });
        CHECK_THAT(e,
                   Catch::Contains("rate-pool.json") && Catch::Contains("/summary/baseline_rps"));
    }
    SECTION("a key of the wrong type") {
        results.edit("stackprobe")["paging"]["page_bytes"] = "4096";
        const std::string e = error_of([&] { tp::report::evaluate_claims(results); });
        CHECK_THAT(e, Catch::Contains("stackprobe.json") && Catch::Contains("/paging/page_bytes") &&
                          Catch::Contains("not a number"));
    }
    SECTION("a file") {
        const auto dir = std::filesystem::temp_directory_path() / "tp-report-missing-file";
        std::filesystem::remove_all(dir);
        std::filesystem::copy(kFixture, dir);
        std::filesystem::remove(dir / "rate-pool.json");
        const std::string e = error_of([&] { tp::report::evaluate_claims(Results::load(dir)); });
        CHECK_THAT(
            e, Catch::Contains((dir / "rate-pool.json").string()) && Catch::Contains("missing"));
        std::filesystem::remove_all(dir);
    }
}

TEST_CASE("a limit the probe could not read is said so, not shown as 0", "[report]") {
    Results results = Results::load(kFixture);
    // The machine table comes from the first sweep run, in stack order.
    auto& limits = results.edit("threadprobe-16k-1000")["context"]["limits"];
    REQUIRE(limits.size() > 1);
    const std::string unread = limits[1]["limit"];
    limits[1]["current"] = nullptr;
    const auto doc =
        tp::report::build_report(results, tp::report::evaluate_claims(results), {}, {});
    const std::string md = tp::report::to_markdown(doc);
    CHECK_THAT(md, Catch::Contains("| " + unread + " | not measured |"));
}

TEST_CASE("a connection's thread in fibserver and in CPython, side by side", "[report]") {
    // The fixture's two holders' results are real runs (README in the fixture); the paragraph
    // is their difference, whatever it is.
    const Results results = Results::load(kFixture);
    const auto costs = tp::report::read_connection_costs(results);
    REQUIRE(costs.size() == 2);
    for (const auto& c : costs) {
        INFO(c.server);
        // Every connection a thread, each with its default stack reserved, but for the few
        // that reused a stack glibc kept mapped from an exited thread before the baseline (its
        // stack cache holds 40 MiB: five 8 MiB stacks at most).
        CHECK(c.threads_added >= 1000);
        CHECK(c.vsz_kib * c.threads_added >= (c.threads_added - 5) * 8 * 1024);
        CHECK(c.rss_kib > 0);
    }
    const auto& native = costs[0].server == "fibserver-threads" ? costs[0] : costs[1];
    const auto& python = costs[0].server == "python-threads" ? costs[0] : costs[1];
    REQUIRE(native.server != python.server);
    const std::string md = tp::report::to_markdown(
        tp::report::build_report(results, tp::report::evaluate_claims(results), {}, {}));
    CHECK_THAT(md, Catch::Contains("### A connection's thread in fibserver and in CPython"));
    CHECK_THAT(md, Catch::Contains(fmt::format("A CPython thread adds {:+.1f} KiB resident",
                                               python.rss_kib - native.rss_kib)));
}

TEST_CASE("a holder whose server died is said so, and the rest of the report stands", "[report]") {
    // Inside a small pids cgroup CPython's server died when a thread could not start: the
    // holder's result has no server figures, only why.
    Results results = Results::load(kFixture);
    auto& summary = results.edit("connections-python-threads")["summary"];
    summary["server"] = nullptr;
    summary["server_died"] = "its /proc entry is gone";
    const auto costs = tp::report::read_connection_costs(results);
    REQUIRE(costs.size() == 2);
    const auto& python = costs[0].server == "python-threads" ? costs[0] : costs[1];
    CHECK(python.not_measured == "the server died mid-run: its /proc entry is gone");
    const std::string md = tp::report::to_markdown(
        tp::report::build_report(results, tp::report::evaluate_claims(results), {}, {}));
    CHECK_THAT(md, Catch::Contains("| python-threads | not measured: the server died mid-run: its "
                                   "/proc entry is gone |"));
    // No difference made up from one side.
    CHECK_THAT(md, !Catch::Contains("A CPython thread adds"));
}

TEST_CASE("claims about 1000 threads do not apply where the machine stopped the run short",
          "[report]") {
    Results results = Results::load(kFixture);
    const auto before = tp::report::evaluate_claims(results);
    auto& summary = results.edit("threadprobe-default-1000")["summary"];
    summary["connections"] = 297;
    summary["failure"] = {{"binding_limit", "pids cgroup"},
                          {"error", "Resource temporarily unavailable (11)"}};
    const auto after = tp::report::evaluate_claims(results);
    REQUIRE(after.size() == before.size());
    int judged_on_it = 0;
    for (std::size_t i = 0; i < after.size(); ++i) {
        INFO(after[i].id << ": " << after[i].measured);
        const bool on_that_run = std::find(after[i].sources.begin(), after[i].sources.end(),
                                           "threadprobe-default-1000") != after[i].sources.end();
        if (on_that_run) {
            ++judged_on_it;
            CHECK(after[i].verdict == Verdict::does_not_apply);
            CHECK_THAT(after[i].measured,
                       Catch::StartsWith("the run stopped at 297 of 1000 threads (pids cgroup)"));
        } else {
            CHECK(after[i].verdict == before[i].verdict);
        }
    }
    // 8 MB each, 8 GB for 1000, pages as used, no swap reserved.
    CHECK(judged_on_it == 4);
}

TEST_CASE("a malformed results file is named", "[report]") {
    const auto dir = std::filesystem::temp_directory_path() / "tp-report-malformed";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "rate-gil.json") << "{\"summary\": ";
    std::ofstream(dir / "experiments.tsv") << "name\tseconds\tstatus\tcommand\n";
    const std::string e = error_of([&] { Results::load(dir); });
    CHECK_THAT(e, Catch::Contains("rate-gil.json") && Catch::Contains("not valid JSON"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("the renderings carry the blocks, the HTML page stands alone", "[report]") {
    tp::report::Document doc;
    doc.title = "t";
    tp::report::Table table;
    table.header = {"claim", "verdict"};
    table.rows = {{"a | b", "holds"}, {"<c>", "does not apply"}};
    table.verdict_columns = {1};
    doc.blocks = {tp::report::Heading{2, "Claims"}, table,
                  tp::report::FigureBlock{"fig", "A figure", "How to read it.",
                                          "<?xml version=\"1.0\"?>\n<svg><defs><path id='gpPt0'/>"
                                          "</defs><use xlink:href='#gpPt0'/></svg>"}};
    const std::string md = tp::report::to_markdown(doc);
    CHECK_THAT(md, Catch::Contains("| a \\| b | **holds** |"));
    CHECK_THAT(md, Catch::Contains("![A figure](figures/fig.svg)"));

    const std::string html = tp::report::to_html(doc);
    CHECK_THAT(html, Catch::Contains("<td class=\"does-not-apply\">does not apply</td>"));
    CHECK_THAT(html, Catch::Contains("&lt;c&gt;"));
    // Inline, with ids made unique to the figure, and no prologue in the middle of the page.
    CHECK_THAT(html, Catch::Contains("<path id='fig-gpPt0'/>") &&
                         Catch::Contains("xlink:href='#fig-gpPt0'"));
    CHECK_THAT(html, !Catch::Contains("<?xml"));
    CHECK_THAT(html, !Catch::Contains("src=") && !Catch::Contains("<link"));
}

TEST_CASE("gnuplot draws SVG, and says why when it cannot", "[report]") {
    const std::string svg = tp::report::render_svg("plot x*x title 'square'", 320, 200);
    CHECK_THAT(svg, Catch::Contains("<svg") && Catch::Contains("</svg>"));
    CHECK_THAT(svg, Catch::Contains("width=\"320\"") && Catch::Contains("height=\"200\""));

    SECTION("a script gnuplot rejects: its own error line") {
        CHECK_THROWS_WITH(tp::report::render_svg("plot $nowhere using 1:2", 320, 200),
                          Catch::StartsWith("gnuplot failed") && Catch::Contains("nowhere"));
    }
    SECTION("no gnuplot on the PATH: how to get it") {
        const std::string path = std::getenv("PATH");
        ::setenv("PATH", "/nonexistent", 1);
        std::string error;
        try {
            tp::report::render_svg("plot x", 320, 200);
        } catch (const tp::report::GnuplotError& e) {
            error = e.what();
        }
        ::setenv("PATH", path.c_str(), 1);
        CHECK_THAT(error, Catch::Contains("cannot run gnuplot") && Catch::Contains("gnuplot-nox"));
    }
}

TEST_CASE("a range is judged against its threshold from both ends", "[report]") {
    using tp::report::Holds;
    using tp::report::judge;
    const auto range = [](double lo, double hi) {
        return tp::report::Spread{(lo + hi) / 2, lo, hi, 3};
    };
    CHECK(judge(range(1.8, 2.0), Holds::at_least, 1.7) == Verdict::holds);
    CHECK(judge(range(1.7, 2.0), Holds::at_least, 1.7) == Verdict::holds);  // at least
    CHECK(judge(range(1.6, 2.0), Holds::at_least, 1.7) == Verdict::inconclusive);
    CHECK(judge(range(1.2, 1.6), Holds::at_least, 1.7) == Verdict::differs);
    CHECK(judge(range(99.0, 99.9), Holds::above, 99) == Verdict::inconclusive);  // above
    CHECK(judge(range(0.9, 1.3), Holds::at_most, 1.3) == Verdict::holds);
    CHECK(judge(range(0.9, 1.31), Holds::at_most, 1.3) == Verdict::inconclusive);
    CHECK(judge(range(0.5, 0.8), Holds::below, 0.8) == Verdict::inconclusive);  // below
    CHECK(judge(range(0.9, 1.0), Holds::below, 0.8) == Verdict::differs);
    // One repetition is a point: never inconclusive.
    CHECK(judge(tp::report::spread_of({1.69}), Holds::at_least, 1.7) == Verdict::differs);
    CHECK(tp::report::describe(tp::report::spread_of({2.0, 1.0, 3.0}), "x{:.1f}") ==
          "x2.0 (x1.0 to x3.0, 3 runs)");
    CHECK(tp::report::describe(tp::report::spread_of({2.0}), "x{:.1f}") == "x2.0");
}

namespace {

// The fixture with CPython measured too, as scripts/reproduce names the Python server's results
// with python3 present: the gil model's perf1 and perf2 documents copied as its threads model's,
// fibserver's pool, threshold and prefork perf2 as its own.
Results with_cpython(const Results& fixture) {
    std::map<std::string, nlohmann::json> documents;
    for (const auto& name : fixture.names_starting_with(""))
        documents[name] = fixture.document(name);
    for (const char* name : {"latency-gil-1", "latency-gil-2", "rate-gil"}) {
        std::string copy = name;
        copy.replace(copy.find("gil"), 3, "python-threads");
        documents[copy] = fixture.document(name);
    }
    for (const std::string model : {"pool", "threshold", "prefork"})
        documents["rate-python-" + model] = fixture.document("rate-" + model);
    return Results(fixture.origin(), documents, fixture.experiments());
}

}  // namespace

TEST_CASE("the GIL's claims are judged on CPython where it was measured, the emulation beside",
          "[report]") {
    const std::string starves = "Under the GIL, one long CPU-bound request";
    const std::string doubles = "Two clients making CPU-bound requests double";
    const Results fixture = Results::load(kFixture);
    SECTION("without CPython: judged on the emulation, and said so") {
        const Claim c = claim_starting(tp::report::evaluate_claims(fixture), starves);
        CHECK_THAT(c.measured, Catch::Contains("CPython not measured (no python3)"));
        CHECK_FALSE(tp::report::gil_figures(fixture, "python-threads"));
        const auto data = tp::report::report_data(fixture, tp::report::evaluate_claims(fixture),
                                                  {"scripts/reproduce", "", ""});
        CHECK(data["comparison"]["cpython"].is_null());
        CHECK(data["comparison"]["gil"]["perf1_ratio"]["median"].is_number());
    }
    SECTION("with CPython: its verdict decides, both figures shown") {
        Results results = with_cpython(fixture);
        const Claim same = claim_starting(tp::report::evaluate_claims(results), starves);
        CHECK(same.verdict == Verdict::holds);
        CHECK_THAT(same.measured, Catch::StartsWith("CPython threads: ") &&
                                      Catch::Contains("(judged on CPython); fibserver's "
                                                      "emulation: gil model: "));
        REQUIRE(same.figures.size() == 2);
        CHECK(same.figures[0].name == "CPython: drop while fib(N) ran");
        CHECK(same.figures[1].name == "emulated GIL: drop while fib(N) ran");

        // CPython's rate barely dropping flips the verdict; the emulation's alone would not.
        results.edit("rate-python-threads")["summary"]["drop_percent"] = 50.0;
        CHECK(claim_starting(tp::report::evaluate_claims(results), starves).verdict ==
              Verdict::differs);
        const auto g = tp::report::gil_figures(results, "python-threads");
        REQUIRE(g);
        REQUIRE(g->perf2_drop_percent);
        CHECK(g->perf2_drop_percent->median == 50.0);

        const Claim perf1 = claim_starting(tp::report::evaluate_claims(results), doubles);
        CHECK_THAT(perf1.measured, Catch::StartsWith("CPython threads, fib("));
        const auto data = tp::report::report_data(results, tp::report::evaluate_claims(results),
                                                  {"scripts/reproduce", "", ""});
        CHECK(data["comparison"]["cpython"]["perf2_drop_percent"]["median"] == 50.0);
        CHECK(data["comparison"]["gil"]["perf1_ratio"]["median"] ==
              data["comparison"]["cpython"]["perf1_ratio"]["median"]);
    }
}

TEST_CASE("the claims on the pool and threshold and prefork are judged on CPython where measured",
          "[report]") {
    const std::string costs = "A process pool lowers the rate of tiny requests";
    const std::vector<std::string> perf2_claims = {costs, "...but with a pool the rate holds",
                                                   "A threshold that sends only big",
                                                   "A pre-forked server has no"};
    const Results fixture = Results::load(kFixture);
    SECTION("without CPython: judged on fibserver, and said so") {
        const auto claims = tp::report::evaluate_claims(fixture);
        for (const auto& start : perf2_claims)
            CHECK_THAT(claim_starting(claims, start).measured,
                       Catch::Contains("CPython not measured (no python3): judged on fibserver"));
        const std::string md =
            tp::report::to_markdown(tp::report::build_report(fixture, claims, {}, {}));
        CHECK_THAT(md, !Catch::Contains("| CPython"));
    }
    SECTION("with CPython: its verdict decides, fibserver's figure beside it") {
        Results results = with_cpython(fixture);
        // The fixture's fibserver pool is 63% below its threads model: the claim differs there.
        // CPython's pool 95% below CPython's threads makes it hold.
        REQUIRE(claim_starting(tp::report::evaluate_claims(fixture), costs).verdict ==
                Verdict::differs);
        const double threads = results.number("rate-python-threads", "/summary/baseline_rps");
        results.edit("rate-python-pool")["summary"]["baseline_rps"] = threads * 0.05;
        const auto claims = tp::report::evaluate_claims(results);
        const Claim pool = claim_starting(claims, costs);
        CHECK(pool.verdict == Verdict::holds);
        CHECK_THAT(pool.measured, Catch::StartsWith("CPython pool: ") &&
                                      Catch::Contains("with CPython threads computing inline: 95% "
                                                      "lower (judged on CPython); fibserver: "
                                                      "pool model: "));
        REQUIRE(pool.figures.size() == 2);
        CHECK(pool.figures[0].name == "CPython: pool's rate below the threads model's");
        CHECK(pool.figures[1].name == "fibserver: pool's rate below the threads model's");
        CHECK(std::count(pool.sources.begin(), pool.sources.end(), "rate-python-pool") == 1);
        for (const auto& start : perf2_claims)
            CHECK_THAT(claim_starting(claims, start).measured,
                       Catch::Contains("(judged on CPython); fibserver: "));
        CHECK_THAT(
            claim_starting(claims, "A threshold that").measured,
            Catch::StartsWith("CPython threshold: ") && Catch::Contains(" of CPython threads' "));
        // The models table has the Python server's rows after fibserver's.
        const std::string md =
            tp::report::to_markdown(tp::report::build_report(results, claims, {}, {}));
        CHECK_THAT(md, Catch::Contains("| CPython threads |") &&
                           Catch::Contains("| CPython pool |") &&
                           Catch::Contains("| CPython prefork |"));
    }
}

namespace {

// The fixture with python_stacks.py's results: the default 8 MiB stack and 256 KiB, a Python
// thread's virtual memory `small_vsz_kib` at 256 KiB, recursion through C `c_depth` levels
// at the default stack.
Results with_python_stacks(double small_vsz_kib, double c_depth) {
    const Results fixture = Results::load(kFixture);
    std::map<std::string, nlohmann::json> documents;
    for (const auto& name : fixture.names_starting_with(""))
        documents[name] = fixture.document(name);
    auto depth = [](double d, const char* by) {
        return nlohmann::json{{"depth", d}, {"stopped_by", by}, {"seconds", 0.1}};
    };
    documents["python-stacks"] = {
        {"tool", "python_stacks"},
        {"python", {{"implementation", "CPython"}, {"version", "3.11.7"}, {"executable", "p"}}},
        {"recursion_limit", 200000},
        {"stacks",
         {{{"stack_bytes", 8 << 20},
           {"default", true},
           {"thread_vsz_kib", 8212},
           {"python", depth(200000, "RecursionError")},
           {"through_c", depth(c_depth, "signal 11")}},
          {{"stack_bytes", 256 << 10},
           {"default", false},
           {"thread_vsz_kib", small_vsz_kib},
           {"python", depth(200000, "RecursionError")},
           {"through_c", depth(c_depth / 32, "signal 11")}}}}};
    return Results(fixture.origin(), documents, fixture.experiments());
}

}  // namespace

TEST_CASE("the stack claims are judged on Python threads where python_stacks.py ran", "[report]") {
    const std::string levels = "Blowing the stack on purpose";
    const std::string smaller = "A much smaller thread stack can be set";
    SECTION("without it: a C++ thread's, and said so") {
        const auto claims = tp::report::evaluate_claims(Results::load(kFixture));
        CHECK_THAT(claim_starting(claims, smaller).measured,
                   Catch::Contains("CPython not measured (no python3): judged on a C++ thread"));
    }
    SECTION("a 256 KiB Python thread that reserves 276 KiB, 14,000 levels through C: both hold") {
        const auto claims = tp::report::evaluate_claims(with_python_stacks(276, 14000));
        const Claim depth = claim_starting(claims, levels);
        CHECK(depth.verdict == Verdict::holds);
        CHECK_THAT(depth.measured,
                   Catch::StartsWith("CPython 3.11.7") && Catch::Contains("14000 levels") &&
                       Catch::Contains("no C stack") && Catch::Contains("a C++ thread: "));
        const Claim small = claim_starting(claims, smaller);
        CHECK(small.verdict == Verdict::holds);
        CHECK_THAT(small.measured,
                   Catch::Contains("threading.stack_size(256 KiB)") && Catch::Contains("276 KiB"));
        CHECK(std::count(small.sources.begin(), small.sources.end(), "python-stacks") == 1);
    }
    SECTION("one that reserves the default's 8 MiB whatever was asked: differs") {
        const auto claims = tp::report::evaluate_claims(with_python_stacks(8212, 40000));
        CHECK(claim_starting(claims, smaller).verdict == Verdict::differs);
        CHECK(claim_starting(claims, levels).verdict == Verdict::differs);
    }
}
