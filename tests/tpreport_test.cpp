// tpreport end to end: a real results folder in, report.md, report.html and SVG figures out
// (gnuplot really runs); bad results folders give one line naming the file and no report.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
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
