// latencyprobe end to end against a real embedded fibserver on loopback.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "result_files.hpp"
#include "run_program.hpp"

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
    for (const char* key : {"tool", "version", "context", "config", "summary"})
        CHECK(r.contains(key));
    const json& s = r["summary"];
    CHECK(s["overall"]["requests"] == 10);
    check_ordered(s["overall"]);
    REQUIRE(s["clients"].size() == 2);
    for (const auto& c : s["clients"]) {
        CHECK(c["requests"] == 5);
        CHECK(c["latencies_ms"].size() == 5);
        CHECK(c["error"].is_null());
        check_ordered(c);
    }
}

TEST_CASE("a duration repeats for a while instead of a count", "[latencyprobe]") {
    const json r = run_json("latencyprobe", {"--n=20", "--duration=300ms"});
    CHECK(r["summary"]["overall"]["requests"].get<int>() >= 1);
    CHECK(r["config"]["count"].is_null());
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
    };
    for (const auto& [args, says] : cases) {
        const auto run = run_program("latencyprobe", args);
        INFO(args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("latencyprobe: error: ") && Catch::Contains(says) &&
                                Catch::EndsWith("(see --help)\n"));
    }
}
