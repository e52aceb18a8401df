// The forecast's arithmetic and its inputs: mappings read from maps text, costs from two
// snapshots, headroom per limit at the measured cost, the binding limit, the safety margin, the
// container limits read from fixture machines.
#include "forecast.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "margin_options.hpp"

namespace {

tp::LimitReading reading(const std::string& name, std::uint64_t current, std::uint64_t ceiling,
                         const std::string& unit = "tasks") {
    tp::LimitReading r;
    r.name = name;
    r.source = "test";
    r.unit = unit;
    r.current = current;
    r.ceiling = ceiling;
    return r;
}

tp::ThreadCostSample cost_of_64k_thread() {
    tp::ThreadCostSample c;
    c.stack_bytes = 64 * 1024;
    c.threads = 56;
    c.tasks = 1;
    c.mappings = 2;
    c.vsz_kib = 68;
    c.commit_kib = 64;
    c.rss_kib = 12;
    c.kernel_stack_kib = 16;
    return c;
}

const tp::LimitReading& limit_named(const tp::StackForecast& f, const std::string& name) {
    for (const auto& r : f.limits)
        if (r.name == name) return r;
    FAIL("no limit " << name);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("maps text adds up to its mappings and its private writable KiB", "[forecast]") {
    const std::string maps =
        "55d0c0000000-55d0c0001000 r--p 00000000 08:01 12 /usr/bin/x\n"
        "7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n"
        "7f0000001000-7f0000011000 rw-p 00000000 00:00 0 \n"
        "7f0000011000-7f0000012000 rw-s 00000000 00:05 3 /dev/zero\n";
    const auto t = tp::parse_maps(maps);
    REQUIRE(t);
    CHECK(t->count == 4);
    // The 64 KiB rw-p stack counts; the guard (---p) and the shared mapping do not.
    CHECK(t->writable_private_kib == 64);
    CHECK_FALSE(tp::parse_maps("not a maps line\n"));
    CHECK(tp::parse_maps("")->count == 0);
}

TEST_CASE("a cost is the slope between two snapshots, per thread added", "[forecast]") {
    tp::CostSnapshot before, after;
    before.process = tp::ProcessMemory{1000, 500, 400, 20, 1};
    after.process = tp::ProcessMemory{1000 + 10 * 68, 500 + 10 * 12, 400, 20, 11};
    before.mappings = tp::MappingTotals{30, 200};
    after.mappings = tp::MappingTotals{50, 200 + 640};
    before.system = tp::SystemMemory{};
    after.system = tp::SystemMemory{};
    before.system->kernel_stack_kib = 5000;
    after.system->kernel_stack_kib = 4000;  // someone else's threads ended meanwhile
    before.machine_tasks = 100;
    after.machine_tasks = 121;  // ten threads, ten server threads and one passer-by
    const auto c = tp::cost_between(before, after);
    CHECK(c.threads == 10);
    CHECK(c.vsz_kib == Approx(68));
    CHECK(c.rss_kib == Approx(12));
    CHECK(c.mappings == Approx(2));
    CHECK(c.commit_kib == Approx(64));
    CHECK(c.kernel_stack_kib == 0);  // never negative
    CHECK(c.tasks == 2);             // whole tasks
    CHECK_THAT(c.guard_layout(), Catch::Contains("PROT_NONE"));
    // Counted on the process and its server where both are known: a busy machine whose other
    // processes made 25 threads meanwhile does not make each thread cost more tasks.
    before.own_tasks = 12;
    after.own_tasks = 32;  // ten threads, ten server threads
    after.machine_tasks = 145;
    CHECK(tp::cost_between(before, after).tasks == 2);
    after.own_tasks = 22;  // ten threads, no server
    CHECK(tp::cost_between(before, after).tasks == 1);
    after.process->threads = 1;
    CHECK(tp::cost_between(before, after).threads == 0);  // nothing added, nothing measured
}

TEST_CASE("each limit is priced at its measured cost and the least headroom binds", "[forecast]") {
    auto pids = reading("pid_max", 100, 32768);
    pids.reserved = 300;
    auto maps = reading("vm.max_map_count", 60, 65530, "mappings");
    auto as = reading("RLIMIT_AS", 10'000, 10'000 + 68 * 500, "KiB");
    auto commit = reading("commit limit", 0, 64, "KiB");
    commit.enforced = false;  // mode 0: never binds, however near
    const auto f = tp::forecast_threads({pids, maps, as, commit}, cost_of_64k_thread(), 3);
    CHECK(f.binding_limit == "RLIMIT_AS");
    REQUIRE(f.threads);
    CHECK(*f.threads == 3 + 500);
    CHECK(limit_named(f, "vm.max_map_count").headroom_threads() == Approx((65530 - 60) / 2.0));
    CHECK(limit_named(f, "pid_max").headroom_threads() == Approx(32768 - 100 - 300));
    CHECK(limit_named(f, "commit limit").cost_per_thread == 64);
    // Without RLIMIT_AS the next tightest binds.
    const auto g = tp::forecast_threads({pids, maps}, cost_of_64k_thread(), 3);
    CHECK(g.binding_limit == "pid_max");
    CHECK(*g.threads == 3 + 32768 - 100 - 300);
    // Nothing enforced with a ceiling: no figure, and none pretending to be one.
    const auto h = tp::forecast_threads({commit}, cost_of_64k_thread(), 3);
    CHECK(h.binding_limit == "none");
    CHECK_FALSE(h.threads);
}

TEST_CASE("a limit a thread costs nothing against is out of reach, not infinitely near",
          "[forecast]") {
    // No connection: descriptors do not move with threads.
    const auto f = tp::forecast_threads(
        {reading("RLIMIT_NOFILE", 10, 11, "descriptors"), reading("threads-max", 10, 1000)},
        cost_of_64k_thread(), 1);
    CHECK(f.binding_limit == "threads-max");
    CHECK_FALSE(limit_named(f, "RLIMIT_NOFILE").headroom_threads());
}

TEST_CASE("a forecast reads back as itself", "[forecast]") {
    auto pids = reading("pid_max", 100, 32768);
    pids.knob = tp::knob_for("pid_max");
    const auto f = tp::forecast_threads({pids}, cost_of_64k_thread(), 3);
    const nlohmann::json j = tp::to_json(f);
    CHECK(j["limits"][0]["name"] == "pid_max");
    CHECK(j["limits"][0]["knob"] == "sysctl kernel.pid_max");
    const auto back = j.get<tp::StackForecast>();
    CHECK(back.threads == f.threads);
    CHECK(back.binding_limit == f.binding_limit);
    CHECK(back.cost.vsz_kib == f.cost.vsz_kib);
    CHECK(tp::to_json(back) == j);
}

TEST_CASE("agreement is within 1% or 16 threads, whichever is larger", "[forecast]") {
    CHECK(tp::forecasts_agree(600, 584));
    CHECK_FALSE(tp::forecasts_agree(600, 583));
    CHECK(tp::forecasts_agree(30000, 29700));
    CHECK_FALSE(tp::forecasts_agree(30000, 29600));
}

TEST_CASE("every limit read names the knob that moves it", "[forecast]") {
    for (const char* name : {"threads-max", "pid_max", "RLIMIT_NPROC", "pids cgroup",
                             "vm.max_map_count", "RLIMIT_NOFILE", "ephemeral ports", "commit limit",
                             "RLIMIT_AS", "memory", "memory cgroup"})
        CHECK_FALSE(tp::knob_for(name).empty());
    CHECK_THAT(tp::knob_for("pids cgroup"), Catch::Contains("TasksMax=") &&
                                                Catch::Contains("--pids-limit") &&
                                                Catch::Contains("podPidsLimit"));
    CHECK(tp::knob_for("no such limit").empty());
}

TEST_CASE("the safety margin keeps the larger of the share and the tasks", "[forecast]") {
    const std::filesystem::path root = TP_FIXTURES_DIR "/limits/none";
    const tp::ProcFs fs({root / "proc", root / "sys"});
    const auto pid_max = fs.sysctl("kernel.pid_max");
    const auto threads_max = fs.sysctl("kernel.threads-max");
    REQUIRE(pid_max);
    REQUIRE(threads_max);
    const std::uint64_t usable = std::min(*pid_max - 300, *threads_max);
    const auto m = tp::safety_margin(fs, {5, 1000});
    REQUIRE(m.max_tasks);
    const auto kept = std::max<std::uint64_t>(1000, (usable * 5 + 99) / 100);
    CHECK(*m.max_tasks == usable - kept);
    // A count larger than the share wins.
    CHECK(*tp::safety_margin(fs, {1, 5000}).max_tasks == usable - 5000);
    CHECK_FALSE(m.max_committed_kib);  // mode 0: the commit limit is nobody's ceiling
    const std::filesystem::path mode2 = TP_FIXTURES_DIR "/limits/commit-mode-2";
    const auto m2 = tp::safety_margin(tp::ProcFs({mode2 / "proc", mode2 / "sys"}), {5, 1000});
    CHECK(m2.max_committed_kib);
}

TEST_CASE("keep-free reads a share, tasks, or both", "[forecast]") {
    const auto parse = [](const std::string& text) {
        boost::any out;
        tp::validate(out, {text}, static_cast<tp::KeepFree*>(nullptr), 0);
        return boost::any_cast<tp::KeepFree>(out);
    };
    CHECK(parse("5%,1000").percent == 5);
    CHECK(parse("5%,1000").tasks == 1000);
    CHECK(parse("10%").tasks == 0);
    CHECK(parse("2000").percent == 0);
    for (const char* bad : {"", "x", "5%%", "60%", "-1", "5%,1000,3", "20000000"})
        CHECK_THROWS_AS(parse(bad), tp::po::error);
    CHECK(tp::describe(tp::KeepFree{}) == "5%,1000");
}

TEST_CASE("fixture machines: the memory cgroup is read, v1 and v2, tightest ancestor",
          "[forecast]") {
    for (const char* machine : {"memory-cgroup-v1", "memory-cgroup-v2"}) {
        const std::filesystem::path root =
            std::filesystem::path(TP_FIXTURES_DIR "/limits") / machine;
        const auto readings = tp::read_limits(tp::ProcFs({root / "proc", root / "sys"}), 4242, {});
        const auto it = std::find_if(readings.begin(), readings.end(),
                                     [](const auto& r) { return r.name == "memory cgroup"; });
        INFO(machine);
        REQUIRE(it != readings.end());
        CHECK(*it->ceiling - *it->current == 64);  // KiB: the container's, not its parent's
        CHECK_THAT(it->note, Catch::Contains("OOM killer"));
        CHECK(tp::diagnose(readings).binding_limit == "memory cgroup");
    }
}
