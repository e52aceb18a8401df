// rateprobe end to end against a real embedded fibserver on loopback, and its summary on
// made-up timelines.
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

json run_json(std::vector<std::string> args) {
    return tp::test::run_for_json("rateprobe", std::move(args));
}

}  // namespace

TEST_CASE("without interference: a steady rate, one timeline entry a second", "[rateprobe]") {
    const json r = run_json({"--duration=2s"});
    for (const char* key : {"tool", "version", "context", "config", "timeline", "summary"})
        CHECK(r.contains(key));
    CHECK(r["timeline"].size() == 2);
    const json& s = r["summary"];
    CHECK(s["baseline_rps"].get<double>() > 0);
    CHECK(s["during_rps"].is_null());
    CHECK(s["drop_percent"].is_null());
    CHECK(s["recover_s"].is_null());
}

TEST_CASE("with interference: the long request is timed and the rate during it measured",
          "[rateprobe]") {
    const json r = run_json({"--duration=3s", "--interfere=38@1s"});
    const json& s = r["summary"];
    CHECK(s["interference_start_s"].get<double>() >= 1.0);
    CHECK(s["interference_end_s"].get<double>() > s["interference_start_s"].get<double>());
    CHECK(s["baseline_rps"].get<double>() > 0);
    CHECK(s["during_rps"].is_number());
    CHECK(s["drop_percent"].is_number());
    CHECK(r["config"]["interfere"]["n"] == 38);
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
    };
    for (const auto& [args, says] : cases) {
        const auto run = run_program("rateprobe", args);
        INFO(args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("rateprobe: error: ") && Catch::Contains(says) &&
                                Catch::EndsWith("(see --help)\n"));
    }
}
