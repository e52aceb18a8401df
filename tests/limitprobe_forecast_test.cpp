// limitprobe's forecast against the real thing: the forecast alone, for itself and another
// process; and, in contained cases (limits that bind only the probe's own child), the forecast
// held against a search that goes to the wall, each within 1% or 16 threads.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "forecast.hpp"
#include "procfs.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"

namespace {

using nlohmann::json;
using tp::test::run_program;

json run_for_json(const std::vector<std::string>& args, int expected_exit = 0,
                  tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120))) {
    return tp::test::run_for_json("limitprobe", args, expected_exit, options);
}

// The search's one row bears out its forecast: the same limit named, as many threads.
void check_forecast_confirmed(const json& r, const std::string& limit) {
    REQUIRE(r["forecast"].size() == 1);
    REQUIRE(r["results"].size() == 1);
    const json& forecast = r["forecast"][0];
    const json& row = r["results"][0];
    INFO("forecast: " << forecast.dump() << "\nrow: " << row.dump());
    CHECK(forecast["binding_limit"] == limit);
    CHECK(row["binding_limit"] == limit);
    const auto reached =
        row["threads_at_start"].get<std::uint64_t>() + row["threads_reached"].get<std::uint64_t>();
    REQUIRE(forecast["threads"].is_number());
    CHECK(tp::forecasts_agree(forecast["threads"].get<std::uint64_t>(), reached));
    CHECK(row["forecast_confirmed"] == true);
    CHECK(tp::test::children_of(::getpid()).empty());
}

// A cgroup of the pids controller this test may make and remove, if the machine lets it:
// v2's unified hierarchy with pids enabled for children, or v1's pids mount.
std::optional<std::filesystem::path> make_pids_cgroup(const std::string& name) {
    for (const std::filesystem::path parent : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup"}) {
        std::ifstream controls(parent / "cgroup.subtree_control");
        std::string enabled((std::istreambuf_iterator<char>(controls)), {});
        const bool v1 = parent.filename() == "pids";
        if (!v1 && enabled.find("pids") == std::string::npos) continue;
        const auto dir = parent / name;
        if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
            if (std::filesystem::exists(dir / "pids.max")) return dir;
            ::rmdir(dir.c_str());
        }
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("a forecast per stack size from a small sample, every limit priced", "[forecast]") {
    const json r = run_for_json({"--forecast", "--stack=16k,64k,default"});
    CHECK(r["results"].empty());  // no search
    CHECK(r["config"]["pid"] > 0);
    REQUIRE(r["forecast"].size() == 3);
    for (const json& f : r["forecast"]) {
        INFO(f.dump(2));
        const json& cost = f["cost"];
        // A sample, not a search: at most the configured 64, at least one measured.
        CHECK(cost["sample_threads"].get<int>() > 0);
        CHECK(cost["sample_threads"].get<int>() <= 64);
        // A thread maps at least its stack and the kernel counts it as one task at least.
        const double stack_kib = f["stack_bytes"].get<double>() / 1024;
        CHECK(cost["vsz_kib"].get<double>() >= stack_kib);
        CHECK(cost["commit_kib"].get<double>() >= stack_kib);
        CHECK(cost["mappings"].get<double>() >= 0.9);
        CHECK(cost["tasks"].get<double>() >= 1);
        // Parked threads touch a few pages of their stacks, not all of a big one.
        CHECK(cost["rss_kib"].get<double>() > 0);
        CHECK(cost["rss_kib"].get<double>() < 256);
        CHECK(f["threads"].get<std::uint64_t>() > f["current_threads"].get<std::uint64_t>());
        bool binding_found = false;
        for (const json& l : f["limits"]) {
            for (const char* key :
                 {"name", "current", "ceiling", "cost_per_thread", "enforced", "source"})
                CHECK(l.contains(key));
            if (l["name"] == f["binding_limit"]) {
                binding_found = true;
                CHECK(l["enforced"] == true);
                CHECK(l.contains("knob"));
                // The binding limit's headroom is what the process has left.
                CHECK(f["threads"].get<double>() ==
                      Approx(f["current_threads"].get<double>() +
                             std::floor(l["headroom_threads"].get<double>()))
                          .margin(1));
            }
        }
        CHECK(binding_found);
    }
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("forecast for another process (--pid): another process's limits without touching it",
          "[forecast]") {
    tp::Subprocess sleeper({"/bin/sleep", "60"});
    const json r =
        run_for_json({"--forecast", "--stack=64k", "--pid", std::to_string(sleeper.pid())});
    CHECK(r["config"]["pid"] == sleeper.pid());
    CHECK(r["config"]["process"] == "sleep");
    REQUIRE(r["forecast"].size() == 1);
    CHECK(r["forecast"][0]["current_threads"] == 1);
    CHECK(r["forecast"][0]["threads"].get<std::uint64_t>() > 1);
    // Still running, never stopped or signalled.
    CHECK_FALSE(sleeper.wait_for(std::chrono::milliseconds(0)));
}

TEST_CASE("limitprobe forecast bad input: exit 2 naming the flag, or 1 for a missing process",
          "[forecast]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
        {{"--pid=1"}, "--pid"},
        {{"--forecast", "--pid=0"}, "--pid"},
        {{"--forecast", "--to-the-limit"}, "--to-the-limit"},
        {{"--keep-free=60%"}, "--keep-free"},
        {{"--keep-free=lots"}, "--keep-free"},
    };
    for (const auto& [args, says] : usage) {
        const auto run = run_program("limitprobe", args);
        INFO(args.back() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Contains(says));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    // A pid nobody has: the highest the kernel hands out, if that one is free.
    const auto pid_max = tp::ProcFs{}.sysctl("kernel.pid_max").value_or(32768);
    const std::string missing = std::to_string(pid_max - 1);
    if (std::filesystem::exists("/proc/" + missing)) {
        WARN("skipped the missing-pid case: pid " << missing << " exists");
        return;
    }
    const auto run = run_program("limitprobe", {"--forecast", "--pid", missing});
    INFO(run.err);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::Contains("no such process"));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}

TEST_CASE("contained: RLIMIT_AS, forecast against the wall", "[forecast]") {
    if (tp::test::kSanitized) {
        WARN("skipped: RLIMIT_AS cannot hold a sanitizer's shadow memory");
        return;
    }
    // 1 MiB stacks in 1 GiB of address space: about a thousand threads.
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    options.address_space_limit = rlim_t{1} << 30;
    check_forecast_confirmed(run_for_json({"--stack=1m"}, 0, options), "RLIMIT_AS");
}

TEST_CASE("contained: RLIMIT_NOFILE with connections, forecast against the wall", "[forecast]") {
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    options.descriptor_limit = 400;
    check_forecast_confirmed(run_for_json({"--stack=64k", "--connections"}, 0, options),
                             "RLIMIT_NOFILE");
}

TEST_CASE("contained: RLIMIT_NPROC of an unprivileged uid, forecast against the wall",
          "[forecast]") {
    constexpr const char* kSetpriv = "/usr/bin/setpriv";
    constexpr std::uint64_t kNobody = 65534;
    if (::geteuid() != 0 || !std::filesystem::exists(kSetpriv)) {
        WARN("skipped: running as another uid needs root and setpriv");
        return;
    }
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    options.run_under = {kSetpriv, "--reuid=65534", "--regid=65534", "--clear-groups"};
    if (run_program("limitprobe", {"--version"}, options).exit_code != 0) {
        WARN("skipped: uid 65534 cannot run the build's programs from here");
        return;
    }
    // Room for 500 more of nobody's tasks than it has now.
    options.process_limit = tp::ProcFs{}.tasks_of_user(kNobody) + 500;
    check_forecast_confirmed(run_for_json({"--stack=64k"}, 0, options), "RLIMIT_NPROC");
}

TEST_CASE("contained: a pids cgroup of 600 made for the probe alone, forecast against the wall",
          "[forecast]") {
    const auto cgroup = make_pids_cgroup("threadprobe-test-" + std::to_string(::getpid()));
    if (!cgroup) {
        WARN(
            "skipped: this machine lets no test make a pids cgroup (needs root and a pids "
            "controller)");
        return;
    }
    // Removed however the test ends; empty by then, as every task in it has exited.
    const std::unique_ptr<const std::filesystem::path, void (*)(const std::filesystem::path*)>
        remove(&*cgroup, [](const std::filesystem::path* dir) { ::rmdir(dir->c_str()); });
    { std::ofstream(*cgroup / "pids.max") << 600; }
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    // The shell joins the cgroup, then becomes limitprobe: every task it makes counts.
    options.run_under = {
        "/bin/sh", "-c",
        "echo $$ > '" + (*cgroup / "cgroup.procs").string() + "' && exec \"$0\" \"$@\""};
    const json r = run_for_json({"--stack=64k"}, 0, options);
    check_forecast_confirmed(r, "pids cgroup");
    CHECK_THAT(r["results"][0]["evidence"].get<std::string>(),
               Catch::Contains(cgroup->filename().string()));
}
