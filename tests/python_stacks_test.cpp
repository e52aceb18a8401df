// probes/python/python_stacks.py against the real CPython: what one more Python thread reserves
// and how deep a Python function recurses in it, with the default stack and with
// threading.stack_size().
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "python_server.hpp"
#include "run_program.hpp"
#include "temp_tree.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kScript = std::string(TP_SOURCE_DIR) + "/probes/python/python_stacks.py";

tp::test::ProgramRun run_script(const std::string& python, const std::vector<std::string>& args) {
    std::vector<std::string> argv{python, kScript};
    argv.insert(argv.end(), args.begin(), args.end());
    tp::Subprocess process(std::move(argv), tp::test::program_options(tp::test::within(120s)));
    return tp::test::finish(process, 120s);
}

// A thread's stack as glibc sizes it: RLIMIT_STACK's soft value, 2 MiB when unlimited. The
// script's python3 inherits this process's limit.
double default_stack_bytes() {
    rlimit limit{};
    ::getrlimit(RLIMIT_STACK, &limit);
    return limit.rlim_cur == RLIM_INFINITY ? 2.0 * 1024 * 1024
                                           : static_cast<double>(limit.rlim_cur);
}

// What CPython maps for a thread beside its stack and guard page (the claim's allowance).
constexpr double kInterpreterKib = 32;

// The python3 on PATH, or empty after a WARN saying the case is skipped.
std::string python3_or_skip() {
    const std::string python = tp::find_on_path("python3").value_or("");
    if (python.empty()) WARN("skipped: no python3 on PATH, Python threads cannot be measured");
    return python;
}

}  // namespace

TEST_CASE("Python threads: threading.stack_size() reserves less, and C recursion goes less deep",
          "[python]") {
    const std::string python = python3_or_skip();
    if (python.empty()) return;
    const tp::test::TempTree dir;
    const std::string file = (dir.root() / "python-stacks.json").string();
    constexpr int kLimit = 20000;
    const auto run =
        run_script(python, {"--stack", "64k", "--limit", std::to_string(kLimit), "--json", file});
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    json r;
    std::ifstream(file) >> r;
    CHECK(r["recursion_limit"] == kLimit);
    const json& stacks = r["stacks"];
    REQUIRE(stacks.size() == 2);
    const json& def = stacks[0];
    const json& small = stacks[1];
    CHECK(def["default"] == true);
    CHECK(def["stack_bytes"].get<double>() == default_stack_bytes());
    CHECK(small["default"] == false);
    CHECK(small["stack_bytes"] == 64 * 1024);

    // A thread's virtual size is at least its stack; beyond it, a guard page and the
    // interpreter's own per-thread mappings.
    for (const json* row : {&def, &small}) {
        const double stack_kib = (*row)["stack_bytes"].get<double>() / 1024;
        const double vsz = (*row)["thread_vsz_kib"].get<double>();
        CHECK(vsz >= stack_kib);
        CHECK(vsz <= stack_kib + 4 + kInterpreterKib);
    }

    // Through a C function every level takes C stack: 64 KiB runs out long before the default
    // does (or before the recursion limit, where the default stack holds that many levels).
    const json& c_small = small["through_c"];
    const json& c_default = def["through_c"];
    CHECK(c_small["stopped_by"] == "signal 11");
    CHECK(c_small["depth"].get<double>() > 0);
    CHECK(c_default["depth"].get<double>() > 4 * c_small["depth"].get<double>());

    // A Python function calling itself: since 3.11 such calls take no C stack, so the limit
    // stops it at any stack size; before, the small stack's guard page did.
    const std::string version = r["python"]["version"];
    const bool inline_calls = version.rfind("3.", 0) == 0 && std::stoi(version.substr(2)) >= 11;
    for (const json* row : {&def, &small}) {
        const json& direct = (*row)["python"];
        if (inline_calls) {
            CHECK(direct["stopped_by"] == "RecursionError");
            CHECK(direct["depth"].get<double>() >= kLimit - 100);
            CHECK(direct["depth"].get<double>() <= kLimit);
        }
    }
    if (!inline_calls) CHECK(small["python"]["stopped_by"] == "signal 11");
    // The text summary names both stacks.
    CHECK_THAT(run.out, Catch::Contains("64 KiB (threading.stack_size)"));
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("python_stacks.py bad input: exit 2 naming the flag, and an unwritable --json exits 1",
          "[python]") {
    const std::string python = python3_or_skip();
    if (python.empty()) return;
    for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--stack", "lots"}, "--stack"},
             {{"--stack", "16k"}, "--stack"},
             {{"--limit", "5"}, "--limit"},
             {{"--bogus"}, "--bogus"}}) {
        const auto run = run_script(python, args);
        INFO(run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Contains(says));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    const auto run = run_script(python, {"--json", "/nonexistent-dir/out.json"});
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::Contains("--json"));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}
