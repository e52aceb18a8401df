// Installed like real software: --version names the commit, every program has a man page made
// from its own --help, and the .deb CPack makes holds programs that run where it is unpacked.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "python_server.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "subprocess.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::vector<std::string> kPrograms = {"fibserver",  "threadprobe",  "limitprobe",
                                            "stackprobe", "latencyprobe", "rateprobe",
                                            "tpreport",   "tpbench"};

// A command from PATH, or empty if the machine has none.
std::string find_command(const std::string& name) {
    return tp::find_on_path(name).value_or("");
}

tp::test::ProgramRun run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
    tp::Subprocess process(std::move(argv), tp::test::program_options(tp::test::within(timeout)));
    return tp::test::finish(process, timeout);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every long option a --help text lists.
std::set<std::string> long_options(const std::string& help) {
    std::set<std::string> options;
    const std::regex flag("--[a-z][a-z-]*");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), flag);
         it != std::sregex_iterator(); ++it)
        options.insert(it->str());
    return options;
}

}  // namespace

TEST_CASE("every program's --version says the version and the commit it was built from",
          "[install]") {
    const std::string git = find_command("git");
    const auto describe =
        git.empty() ? tp::test::ProgramRun{}
                    : run_command({git, "-C", TP_SOURCE_DIR, "rev-parse", "--git-dir"}, 10s);
    for (const auto& name : kPrograms) {
        INFO(name);
        const auto run = tp::test::run_program(name, {"--version"}, tp::test::within(10s));
        CHECK(run.exit_code == 0);
        CHECK_THAT(run.out, Catch::StartsWith(name + " " + THREADPROBE_VERSION));
        if (describe.exit_code != 0) continue;
        // Built from a checkout: "(commit <git describe>)", a name git itself resolves.
        std::smatch commit;
        REQUIRE(std::regex_search(run.out, commit, std::regex(R"(\(commit ([^) ]+)\))")));
        std::string name_of_commit = commit[1];
        if (const auto dirty = name_of_commit.find("-dirty"); dirty != std::string::npos)
            name_of_commit.erase(dirty);
        CHECK(run_command({git, "-C", TP_SOURCE_DIR, "rev-parse", "--verify", "--quiet",
                           name_of_commit + "^{commit}"},
                          10s)
                  .exit_code == 0);
    }
    if (describe.exit_code != 0) WARN("not built from a git checkout: no commit to check");
}

TEST_CASE("every program has a man page made from its --help", "[install]") {
    const fs::path man_dir = fs::path(TP_BUILD_DIR) / "man";
    if (!fs::exists(man_dir)) {
        WARN("no man pages in this build (help2man missing, or a ThreadSanitizer build)");
        return;
    }
    for (const auto& name : kPrograms) {
        INFO(name);
        const auto help = tp::test::run_program(name, {"--help"}, tp::test::within(10s));
        REQUIRE(help.exit_code == 0);
        std::string page = read_file(man_dir / (name + ".1"));
        // roff escapes every '-' it means literally.
        for (std::size_t at; (at = page.find("\\-")) != std::string::npos;) page.erase(at, 1);
        CHECK_THAT(page, Catch::Contains(".SH EXAMPLES") && Catch::Contains("EXIT STATUS") &&
                             Catch::Contains(".SH DESCRIPTION"));
        const auto options = long_options(help.out);
        CHECK(options.count("--help") == 1);
        for (const auto& option : options) {
            INFO(option);
            CHECK_THAT(page, Catch::Contains(option));
        }
    }
}

TEST_CASE(
    "the .deb's unpacked programs run: threadprobe finds fibserver beside it, tpreport "
    "renders the fixture",
    "[install][package]") {
    const std::string cpack = find_command("cpack");
    const std::string dpkg_deb = find_command("dpkg-deb");
    if (cpack.empty() || dpkg_deb.empty() || find_command("dpkg-shlibdeps").empty()) {
        WARN("cpack, dpkg-deb or dpkg-shlibdeps missing (scripts/setup installs dpkg-dev)");
        return;
    }
    const fs::path dir = tp::test::temp_path("install", "package");
    fs::create_directories(dir);
    const auto packed = run_command(
        {cpack, "-G", "DEB", "-B", dir, "--config", fs::path(TP_BUILD_DIR) / "CPackConfig.cmake"},
        170s);
    INFO(packed.out << packed.err);
    REQUIRE(packed.exit_code == 0);
    fs::path deb;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".deb") deb = entry.path();
    REQUIRE(!deb.empty());
    CHECK_THAT(deb.filename().string(),
               Catch::StartsWith(std::string("threadprobe_") + THREADPROBE_VERSION + "_"));

    const auto control = run_command({dpkg_deb, "-I", deb}, 30s);
    CHECK_THAT(control.out,
               Catch::Contains("libhwloc") && Catch::Contains("libboost-program-options") &&
                   Catch::Contains("libfmt") && Catch::Contains("libprometheus-cpp-core") &&
                   Catch::Contains("Recommends: gnuplot-nox, python3") &&
                   Catch::Contains("Suggests: prometheus-node-exporter"));

    const fs::path root = dir / "root";
    REQUIRE(run_command({dpkg_deb, "-x", deb, root}, 60s).exit_code == 0);
    for (const auto& name : kPrograms) {
        INFO(name);
        CHECK(fs::exists(root / "usr/bin" / name));
        const fs::path man = root / "usr/share/man/man1";
        CHECK((fs::exists(man / (name + ".1.gz")) || fs::exists(man / (name + ".1"))));
    }
    CHECK(fs::exists(root / "usr/share/doc/threadprobe/LICENSE"));
    for (const char* example :
         {"threadprobe-forecast.service", "threadprobe-forecast.timer", "threadprobe-pid@.service",
          "threadprobe-pid@.timer", "threadprobe.cron", "threadprobe-alerts.yml"})
        CHECK(fs::exists(root / "usr/share/doc/threadprobe/examples/openmetrics" / example));
    const fs::path python_server = root / "usr/share/threadprobe/python/fibserver.py";
    CHECK(fs::exists(python_server));
    if (find_command("python3").empty()) {
        WARN("no python3 on PATH: the unpacked probes' Python server is not run");
    } else {
        // The unpacked latencyprobe runs the script unpacked beside it: share/ beside its bin/
        // comes first in its search, before the source tree it was built from.
        const auto latency = run_command({root / "usr/bin/latencyprobe", "--server-model",
                                          "python:threads", "--n", "10", "--count", "2"},
                                         60s);
        INFO(latency.err);
        CHECK(latency.exit_code == 0);
        CHECK_THAT(latency.out, Catch::Contains("model=python:threads"));
    }

    const fs::path json = dir / "threadprobe.json";
    const auto probe = run_command({root / "usr/bin/threadprobe", "--threads", "50", "--hold",
                                    "200ms", "--quiet", "--json", json},
                                   60s);
    INFO(probe.err);
    CHECK(probe.exit_code == 0);
    if (fs::exists(json)) {
        const auto results = tp::test::read_json(json);
        CHECK(results.at("summary").at("connections") == 50);
        // It started the fibserver unpacked beside it, not one from the build.
        CHECK(results.at("config").at("server").at("embedded") == true);
    }

    const auto report =
        run_command({root / "usr/bin/tpreport", "--results",
                     std::string(TP_FIXTURES_DIR) + "/report/results", "--out", dir / "report"},
                    120s);
    INFO(report.err);
    CHECK(report.exit_code == 0);
    CHECK(fs::exists(dir / "report/report.html"));
    fs::remove_all(dir);
}
