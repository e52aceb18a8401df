#include "limits.hpp"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

namespace {

tp::LimitReading reading(const std::string& name, std::uint64_t current, std::uint64_t ceiling,
                         double cost = 1) {
    tp::LimitReading r;
    r.name = name;
    r.source = "test";
    r.unit = "tasks";
    r.current = current;
    r.ceiling = ceiling;
    r.cost_per_thread = cost;
    return r;
}

}  // namespace

TEST_CASE("the limit at its ceiling is named, with the numbers", "[limits]") {
    const auto d =
        tp::diagnose({reading("threads-max", 32000, 192000), reading("pid_max", 32766, 32768),
                      reading("vm.max_map_count", 30000, 65530, 2)});
    CHECK(d.binding_limit == "pid_max");
    CHECK_THAT(d.evidence, Catch::Contains("32766") && Catch::Contains("32768"));
    CHECK(d.readings.size() == 3);
}

TEST_CASE("of two limits near their ceilings, the tighter binds", "[limits]") {
    // Two mappings per thread: 65528 of 65530 leaves room for one more thread.
    const auto d = tp::diagnose(
        {reading("pid_max", 32765, 32768), reading("vm.max_map_count", 65528, 65530, 2)});
    CHECK(d.binding_limit == "vm.max_map_count");
}

TEST_CASE("a limit the kernel does not enforce is never named", "[limits]") {
    auto nproc = reading("RLIMIT_NPROC", 96365, 96365);
    nproc.enforced = false;
    const auto d = tp::diagnose({nproc, reading("threads-max", 500, 192000)});
    CHECK(d.binding_limit == "unknown");
}

TEST_CASE("none near its ceiling is an honest 'unknown'", "[limits]") {
    CHECK(tp::diagnose({reading("pid_max", 100, 32768)}).binding_limit == "unknown");
    CHECK(tp::diagnose({}).binding_limit == "unknown");
    tp::LimitReading unlimited = reading("RLIMIT_AS", 1000, 0);
    unlimited.ceiling.reset();
    CHECK(tp::diagnose({unlimited}).binding_limit == "unknown");
}

TEST_CASE("this process's limits are all read", "[limits]") {
    const auto readings = tp::read_limits(tp::ProcFs{}, ::getpid(), {64 * 1024, true});
    std::set<std::string> names;
    for (const auto& r : readings) names.insert(r.name);
    for (const char* expected :
         {"threads-max", "pid_max", "RLIMIT_NPROC", "vm.max_map_count", "RLIMIT_NOFILE",
          "ephemeral ports", "commit limit", "RLIMIT_AS", "memory"})
        CHECK(names.count(expected) == 1);
    // A test process is nowhere near any limit.
    CHECK(tp::diagnose(readings).binding_limit == "unknown");
}

TEST_CASE("fixture machines: each limit at its ceiling is the one named", "[limits]") {
    const std::filesystem::path fixtures = TP_FIXTURES_DIR "/limits";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"none", "unknown"},
        {"pid_max", "pid_max"},
        {"threads-max", "threads-max"},
        {"pids-cgroup-v2", "pids cgroup"},
        {"pids-cgroup-v1", "pids cgroup"},
        {"max_map_count", "vm.max_map_count"},
        {"nofile", "RLIMIT_NOFILE"},
        {"commit-mode-2", "commit limit"},
        {"commit-mode-0", "unknown"},
        {"nproc", "RLIMIT_NPROC"},
        {"nproc-root", "unknown"},
        {"memory-cgroup-v1", "memory cgroup"},
        {"memory-cgroup-v2", "memory cgroup"},
    };
    // A 64 KiB stack plus its guard page, and a connection per thread.
    const tp::ThreadCost cost{68 * 1024, true};
    for (const auto& [name, expected] : cases) {
        const tp::ProcFs fs({fixtures / name / "proc", fixtures / name / "sys"});
        const auto d = tp::diagnose(tp::read_limits(fs, 4242, cost));
        INFO(name << ": " << d.evidence);
        CHECK(d.binding_limit == expected);
    }
}

TEST_CASE("the pids cgroup reading is the tightest of the cgroup and its ancestors", "[limits]") {
    const std::filesystem::path root = TP_FIXTURES_DIR "/limits/pids-cgroup-v2";
    const auto readings = tp::read_limits(tp::ProcFs({root / "proc", root / "sys"}), 4242, {});
    const auto pids = std::find_if(readings.begin(), readings.end(),
                                   [](const auto& r) { return r.name == "pids cgroup"; });
    REQUIRE(pids != readings.end());
    CHECK(pids->current == 1023u);
    CHECK(pids->ceiling == 1024u);
    CHECK_THAT(pids->source, Catch::Contains("user.slice/pids.max"));
}
