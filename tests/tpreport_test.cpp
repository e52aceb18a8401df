// tpreport end to end: a real results folder in, report.md, report.html and SVG figures out
// (gnuplot really runs); bad results folders give one line naming the file and no report.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "run_program.hpp"

namespace {

namespace fs = std::filesystem;
using tp::test::run_program;

const fs::path kFixture = fs::path(TP_FIXTURES_DIR) / "report" / "results";

// A scratch copy of the fixture run, removed at the end of the test.
struct ScratchRun {
    fs::path dir = fs::temp_directory_path() / ("tpreport-test-" + std::to_string(::getpid()));
    ScratchRun() {
        fs::remove_all(dir);
        fs::create_directories(dir);
        fs::copy(kFixture, dir / "results");
    }
    ~ScratchRun() { fs::remove_all(dir); }
    std::vector<std::string> args() const {
        return {"--results", (dir / "results").string(), "--out", (dir / "report").string()};
    }
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("tpreport renders the report, its figures and the claims table", "[tpreport]") {
    const ScratchRun run;
    const auto result = run_program("tpreport", run.args());
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const fs::path out = run.dir / "report";
    for (const char* figure :
         {"memory-vs-threads", "cost-per-thread", "stack-paging", "depth-vs-stack", "perf1-latency",
          "perf2-timeline", "connection-cost"}) {
        INFO(figure);
        const std::string svg = read_file(out / "figures" / (std::string(figure) + ".svg"));
        CHECK_THAT(svg, Catch::Contains("<svg") && Catch::Contains("</svg>"));
    }
    const std::string md = read_file(out / "report.md");
    CHECK_THAT(md, Catch::Contains("| # | The article says | Measured here | Verdict | Rule |"));
    CHECK_THAT(md, Catch::Contains("**holds**") && Catch::Contains("**differs**"));
    CHECK_THAT(md, Catch::Contains("![") && Catch::Contains("(figures/perf2-timeline.svg)"));

    // Self-contained: every figure inline, nothing fetched (namespaces are names, not loads).
    const std::string html = read_file(out / "report.html");
    std::size_t inline_svgs = 0;
    for (auto at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
        ++inline_svgs;
    CHECK(inline_svgs == 7);
    CHECK_THAT(html, !Catch::Contains("src=") && !Catch::Contains("<link") &&
                         !Catch::Contains("<script src") && !Catch::Contains("url(http"));
    CHECK_THAT(html, Catch::Contains("glibc") && Catch::Contains("pid_max"));
}

TEST_CASE("tpreport: a bad results folder is one line naming the file, and no report",
          "[tpreport]") {
    const ScratchRun run;
    const fs::path out = run.dir / "report";
    std::string expected;
    SECTION("a missing file") {
        fs::remove(run.dir / "results" / "latency-gil-2.json");
        expected = "latency-gil-2.json: missing";
    }
    SECTION("a missing key") {
        const fs::path file = run.dir / "results" / "stackprobe.json";
        std::string text = read_file(file);
        const std::string key = "\"resident_step_bytes\"";
        const auto at = text.find(key);
        REQUIRE(at != std::string::npos);
        text.replace(at, key.size(), "\"renamed_key\"");
        std::ofstream(file) << text;
        expected = "stackprobe.json: no key /paging/resident_step_bytes";
    }
    SECTION("a file that is not JSON") {
        std::ofstream(run.dir / "results" / "rate-epoll.json") << "{\"summary\": [1, 2";
        expected = "rate-epoll.json: not valid JSON";
    }
    SECTION("no results folder") {
        fs::remove_all(run.dir / "results");
        expected = "not a results folder";
    }
    const auto result = run_program("tpreport", run.args());
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains(expected));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(out / "report.md"));
    CHECK_FALSE(fs::exists(out / "report.html"));
}

TEST_CASE("tpreport: usage errors name the flag and exit 2", "[tpreport]") {
    const auto missing = run_program("tpreport", {});
    CHECK(missing.exit_code == 2);
    CHECK_THAT(missing.err, Catch::Contains("--results"));
    const auto unknown = run_program("tpreport", {"--results", ".", "--colour"});
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.err, Catch::Contains("--colour"));
}

namespace {

// A second machine made from the fixture run: another host and kernel, measured at another
// time, inside a pids cgroup of 600, and written by `version`.
void make_other_machine(const fs::path& results, const std::string& version = "0.1.0") {
    for (const auto& entry : fs::directory_iterator(results)) {
        if (entry.path().extension() != ".json") continue;
        nlohmann::json j = nlohmann::json::parse(read_file(entry.path()));
        if (j.contains("version")) j["version"] = version;
        if (j.contains("context")) {
            auto& c = j["context"];
            c["host"] = "laptop";
            c["kernel"] = "Linux 5.15.0-91-generic";
            c["time"] = "2026-12-01T09:00:00Z";
            c["limits"].push_back({{"limit", "pids cgroup"},
                                   {"source", "/sys/fs/cgroup/pids/tp/pids.max"},
                                   {"unit", "tasks"},
                                   {"current", 40},
                                   {"ceiling", 600},
                                   {"reserved", 0},
                                   {"enforced", true},
                                   {"headroom_threads", 560}});
        }
        std::ofstream(entry.path()) << j.dump(1);
    }
}

}  // namespace

TEST_CASE(
    "tpreport with several --results: the machines side by side, each as its own report "
    "has it",
    "[tpreport]") {
    const ScratchRun run;
    fs::copy(kFixture, run.dir / "laptop");
    make_other_machine(run.dir / "laptop");
    const fs::path out = run.dir / "compared";
    const auto result =
        run_program("tpreport", {"--results", (run.dir / "results").string(), "--results",
                                 (run.dir / "laptop").string(), "--out", out.string()});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("2 machines"));

    const std::string md = read_file(out / "report.md");
    INFO(md.substr(0, 3000));
    CHECK_THAT(md, Catch::Contains("| host | vm | laptop |"));
    CHECK_THAT(md, Catch::Contains("Linux 5.15.0-91-generic"));
    CHECK_THAT(md, Catch::Contains("| pids cgroup | none | 40 of 600 tasks "
                                   "(/sys/fs/cgroup/pids/tp/pids.max) |"));
    CHECK_THAT(md, Catch::Contains("| # | The article says | vm | vm: measured | laptop | laptop: "
                                   "measured |"));
    CHECK_THAT(md, Catch::Contains("vm: threads") && Catch::Contains("laptop: RSS/thread KiB"));
    // No figures of its own: each machine's are in its own report.
    CHECK_FALSE(fs::exists(out / "figures"));
    const std::string html = read_file(out / "report.html");
    CHECK_THAT(html, Catch::Contains("<td class=\"holds\">holds</td>"));

    // Each machine's data is what its own report.json says, with its label and folder.
    const auto single = run_program("tpreport", run.args());
    REQUIRE(single.exit_code == 0);
    const auto own = nlohmann::json::parse(read_file(run.dir / "report" / "report.json"));
    const auto both = nlohmann::json::parse(read_file(out / "report.json"));
    REQUIRE(both["machines"].size() == 2);
    auto first = both["machines"][0];
    CHECK(first["label"] == "vm");
    CHECK(first["results"] == (run.dir / "results").string());
    first.erase("label");
    first.erase("results");
    CHECK(first == own);
    CHECK(both["machines"][1]["machine"]["host"] == "laptop");
    REQUIRE(both["claims"].size() == own["claims"].size());
    for (std::size_t i = 0; i < own["claims"].size(); ++i) {
        CHECK(both["claims"][i]["id"] == own["claims"][i]["id"]);
        CHECK(both["claims"][i]["verdicts"]["vm"] == own["claims"][i]["verdict"]);
        CHECK(both["claims"][i]["verdicts"]["laptop"] == own["claims"][i]["verdict"]);
    }
}

TEST_CASE(
    "tpreport with several --results: the same run twice, another version's results, no "
    "--out: one line, and no report",
    "[tpreport]") {
    const ScratchRun run;
    const fs::path out = run.dir / "compared";
    const std::string mine = (run.dir / "results").string();
    SECTION("the same machine and time twice") {
        fs::copy(kFixture, run.dir / "copy");
        const auto result = run_program(
            "tpreport",
            {"--results", mine, "--results", (run.dir / "copy").string(), "--out", out.string()});
        CHECK(result.exit_code == 1);
        CHECK_THAT(result.err, Catch::Contains(mine) && Catch::Contains("copy") &&
                                   Catch::Contains("same machine and time"));
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
    SECTION("results of another threadprobe release") {
        fs::copy(kFixture, run.dir / "old");
        make_other_machine(run.dir / "old", "0.0.7");
        const auto result = run_program(
            "tpreport",
            {"--results", mine, "--results", (run.dir / "old").string(), "--out", out.string()});
        CHECK(result.exit_code == 1);
        CHECK_THAT(result.err, Catch::Contains((run.dir / "old").string()) &&
                                   Catch::Contains("threadprobe 0.0.7"));
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    }
    SECTION("a --label too few, or twice the same") {
        for (const auto& labels : std::vector<std::vector<std::string>>{{"a"}, {"a", "a"}}) {
            std::vector<std::string> args{"--results", mine,    "--results",
                                          mine,        "--out", out.string()};
            for (const auto& l : labels) args.insert(args.end(), {"--label", l});
            const auto result = run_program("tpreport", args);
            CHECK(result.exit_code == 2);
            CHECK_THAT(result.err, Catch::Contains("--label"));
        }
    }
    SECTION("several without --out") {
        const auto result = run_program("tpreport", {"--results", mine, "--results", mine});
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains("--out"));
    }
    CHECK_FALSE(fs::exists(out));
}
