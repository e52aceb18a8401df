// limitprobe end to end: the real program, its forked children and, with --connections, a real
// fibserver on loopback.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "procfs.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"

namespace {

using nlohmann::json;
using tp::test::run_program;

json run_for_json(const std::vector<std::string>& args, int expected_exit = 0,
                  tp::test::RunOptions options = tp::test::within(std::chrono::seconds(240))) {
    return tp::test::run_for_json("limitprobe", args, expected_exit, options);
}

// The reading of limit `name` in a results row; the test fails if there is none.
const json& reading_of(const json& row, const std::string& name) {
    for (const json& reading : row["readings"])
        if (reading["limit"] == name) return reading;
    FAIL("no reading of " << name << " in " << row.dump(2));
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a cap of 2000 threads reaches 2000 and says so, naming no limit", "[limitprobe]") {
    const json r = run_for_json({"--stack=64k", "--max=2000"});
    for (const char* key : {"tool", "version", "context", "config", "results"})
        CHECK(r.contains(key));
    REQUIRE(r["results"].size() == 1);
    const json& row = r["results"][0];
    CHECK(row["stack_bytes"] == 64 * 1024);
    CHECK(row["threads_reached"] == 2000);
    CHECK(row["stopped_by"] == "max reached");
    CHECK(row["binding_limit"] == "none");
    for (const char* key :
         {"error", "elapsed_s", "vsz_per_thread_kib", "rss_per_thread_kib", "evidence"})
        CHECK(row.contains(key));
    // A parked thread maps at least its stack.
    CHECK(row["vsz_per_thread_kib"].get<double>() >= 64);
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("with connections, every thread holds one to a real server", "[limitprobe]") {
    const json r = run_for_json({"--stack=16k", "--max=500", "--connections"});
    CHECK_THAT(r["config"]["server"].get<std::string>(), Catch::Contains("model=threads"));
    const json& row = r["results"][0];
    CHECK(row["threads_reached"] == 500);
    CHECK(row["stopped_by"] == "max reached");
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("the default search leaves the machine room: it stops at the safety margin",
          "[limitprobe]") {
    if (tp::test::kSanitized) {
        WARN("skipped: tens of thousands of sanitized threads are a test of the sanitizer");
        return;
    }
    const tp::ProcFs fs;
    const auto pid_max = fs.sysctl("kernel.pid_max");
    const auto threads_max = fs.sysctl("kernel.threads-max");
    REQUIRE(pid_max);
    REQUIRE(threads_max);
    const std::uint64_t ceiling = std::min(*pid_max, *threads_max);
    // The machine's task count, watched from beside the search for as long as it runs.
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> peak{0};
    std::thread watcher([&] {
        for (int i = 0; i < 120'000 && !done; ++i) {
            if (const auto tasks = fs.tasks(); tasks && *tasks > peak) peak = *tasks;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    // 16 KiB stacks: the cheapest threads, so a count limit binds long before memory does.
    const json r = run_for_json({"--stack=16k", "--time-limit=60s"});
    done = true;
    watcher.join();
    const json& row = r["results"][0];
    INFO(row.dump(2) << "\npeak tasks " << peak << " of " << ceiling);
    CHECK(row["threads_reached"].get<int>() > 1000);
    const std::string stopped_by = row["stopped_by"];
    // A machine whose memory runs out first stops at the floor instead, also short of a ceiling.
    CHECK((stopped_by == "safety margin" || stopped_by == "memory floor"));
    // Never within 1000 tasks of the shared ceiling.
    CHECK(peak + 1000 <= ceiling);
    if (stopped_by == "safety margin") {
        // The rest of the way, forecast from the costs measured up to the margin, agrees with
        // the forecast made before the search.
        CHECK(row["forecast_at_stop"].is_object());
        CHECK(row["forecast_confirmed"] == true);
    }
    CHECK(tp::test::children_of(::getpid()).empty());

    // Every one of those threads went with the child: a normal probe runs right after.
    const auto after =
        run_program("threadprobe", {"--threads=100", "--stack=64k", "--hold=100ms", "--quiet"});
    INFO(after.err);
    CHECK(after.exit_code == 0);
}

TEST_CASE("out of descriptors: limitprobe stops short of RLIMIT_NOFILE and names it",
          "[limitprobe]") {
    // 128 descriptors for up to 1000 connections: the child must keep enough to read /proc and
    // say which limit it met, not run into EMFILE and diagnose nothing.
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    options.descriptor_limit = 128;
    const json r =
        run_for_json({"--stack=64k", "--connections", "--max=1000"}, 0, std::move(options));
    const json& row = r["results"][0];
    INFO(row.dump(2));
    CHECK(row["stopped_by"] == "out of descriptors");
    CHECK(row["binding_limit"] == "RLIMIT_NOFILE");
    CHECK_THAT(row["evidence"].get<std::string>(), Catch::Contains("Max open files"));
    // Each connection holds a descriptor, under the 128 less the ones kept back.
    CHECK(row["threads_reached"].get<int>() > 0);
    CHECK(row["threads_reached"].get<int>() < 128 - 32);
    // Measured, not a 0 standing in for a reading that could not be taken: a thread maps at
    // least its stack.
    REQUIRE(row["vsz_per_thread_kib"].is_number());
    CHECK(row["vsz_per_thread_kib"].get<double>() >= 64);
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("published readings keep each limit's cost per thread and its reserve", "[limitprobe]") {
    if (tp::test::kSanitized) {
        WARN("skipped: RLIMIT_AS cannot hold a sanitizer's shadow memory");
        return;
    }
    // 768 MiB of address space and 64 MiB stacks: pthread_create fails at RLIMIT_AS after a
    // few threads, the next stack (64 MiB and its guard page) no longer fitting.
    tp::test::RunOptions options = tp::test::within(std::chrono::seconds(120));
    options.address_space_limit = rlim_t{786432} * 1024;
    const json r = run_for_json({"--stack=64m"}, 0, std::move(options));
    const json& row = r["results"][0];
    INFO(row.dump(2));
    REQUIRE(row["stopped_by"] == "pthread_create failed");
    CHECK(row["binding_limit"] == "RLIMIT_AS");
    const json& as = reading_of(row, "RLIMIT_AS");
    CHECK(as["headroom_threads"].get<double>() < 1);
    CHECK(as["headroom_threads"].get<double>() >= 0);
    const json& pids = reading_of(row, "pid_max");
    CHECK(pids["reserved"] == 300);
    CHECK(pids["headroom_threads"].get<double>() ==
          Approx(pids["ceiling"].get<double>() - pids["current"].get<double>() - 300));
    // Two mappings a thread: its stack and its guard page.
    const json& maps = reading_of(row, "vm.max_map_count");
    CHECK(maps["headroom_threads"].get<double>() ==
          Approx((maps["ceiling"].get<double>() - maps["current"].get<double>()) / 2));
}

TEST_CASE("limitprobe bad input: one line naming the flag, exit 2", "[limitprobe]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--max=0"}, "--max"},
        {{"--max=-1"}, "--max"},
        {{"--max=many"}, "--max"},
        {{"--mem-floor=0"}, "--mem-floor"},
        {{"--mem-floor=95"}, "--mem-floor"},
        {{"--stack=1k"}, "minimum"},
        {{"--stack=64k,2g"}, "--stack"},
        {{"--stack=64k,,1m"}, "--stack"},
    };
    for (const auto& [args, says] : cases) {
        const auto run = run_program("limitprobe", args);
        INFO(args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("limitprobe: error: ") && Catch::Contains(says) &&
                                Catch::EndsWith("(see --help)\n"));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
}
