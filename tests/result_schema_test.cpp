// The result schema as a contract: every struct that crosses a process boundary or a file is
// written, read back and written again, and the second JSON is the first. The keys the report
// reads are checked where they are written.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "limitprobe.hpp"
#include "sampler.hpp"
#include "summary.hpp"
#include "threadprobe_report.hpp"

namespace {

using nlohmann::json;

template <typename T>
json check_round_trip(const T& value) {
    const json first = to_json(value);
    INFO(first.dump(2));
    const T back = first.get<T>();
    CHECK(to_json(back) == first);
    return first;
}

void check_keys(const json& j, std::initializer_list<const char*> keys) {
    for (const char* key : keys) {
        INFO(key << " in " << j.dump());
        CHECK(j.contains(key));
    }
}

tp::ProcessMemory process(std::uint64_t threads) {
    return {81108, 5520, 336, 60, threads};
}

tp::LimitReading address_space() {
    tp::LimitReading r;
    r.name = "RLIMIT_AS";
    r.source = "/proc/PID/limits 'Max address space' vs VmSize";
    r.unit = "KiB";
    r.current = 728308;
    r.ceiling = 786432;
    r.cost_per_thread = 65540;  // a 64 MiB stack and its guard page
    return r;
}

tp::LimitReading pid_max() {
    tp::LimitReading r;
    r.name = "pid_max";
    r.source = "/proc/sys/kernel/pid_max vs tasks in /proc/loadavg";
    r.unit = "tasks";
    r.current = 131;
    r.ceiling = 32768;
    r.reserved = 300;
    r.note = "the kernel does not reuse the 300 pids below RESERVED_PIDS";
    return r;
}

tp::Diagnosis as_binding() {
    tp::LimitReading unlimited;
    unlimited.name = "RLIMIT_NPROC";
    unlimited.source = "test";
    unlimited.unit = "tasks";
    unlimited.current = 12;
    unlimited.enforced = false;
    return tp::diagnose({address_space(), pid_max(), unlimited});
}

}  // namespace

TEST_CASE("/proc readings round-trip", "[schema]") {
    check_keys(check_round_trip(process(1001)),
               {"vsz_kib", "rss_kib", "rss_anon_kib", "pte_kib", "threads"});
    check_round_trip(tp::SystemMemory{24683584, 22851736, 2240, 1430452, 12341792});
}

TEST_CASE("a limit reading round-trips with its cost per thread and its reserve", "[schema]") {
    // What went wrong between limitprobe's child and parent: read back without them, RLIMIT_AS
    // had 58124 threads of headroom instead of under one, and pid_max lost its 300.
    const json as = check_round_trip(address_space());
    const auto as_back = as.get<tp::LimitReading>();
    REQUIRE(as_back.headroom_threads());
    CHECK(*as_back.headroom_threads() == Approx(*address_space().headroom_threads()));
    CHECK(*as_back.headroom_threads() < 1);
    const json pids = check_round_trip(pid_max());
    CHECK(pids["reserved"] == 300);
    CHECK(pids["headroom_threads"] == 32768 - 131 - 300);
    // The keys the report's limits table reads.
    check_keys(pids, {"limit", "current", "ceiling", "unit", "enforced", "source", "note"});

    tp::LimitReading unknown;
    unknown.name = "RLIMIT_NOFILE";
    unknown.unit = "descriptors";
    const json j = check_round_trip(unknown);  // nothing read: null, and no headroom
    CHECK(j["current"].is_null());
    CHECK_FALSE(j.contains("headroom_threads"));
}

TEST_CASE("a diagnosis round-trips, and so does this process's own", "[schema]") {
    const json j = check_round_trip(as_binding());
    CHECK(j["binding_limit"] == "RLIMIT_AS");
    check_keys(j, {"binding_limit", "evidence", "readings"});
    check_round_trip(tp::diagnose(tp::read_limits(tp::ProcFs{}, ::getpid(), {68 * 1024, true})));
}

TEST_CASE("samples round-trip, a failed one too", "[schema]") {
    tp::Sample s;
    s.t_s = 1.23456;
    s.phase = tp::Phase::hold;
    s.connections = 300;
    s.probe = process(302);
    s.system = tp::SystemMemory{24683584, 22851736, 2240, 1430452, 12341792};
    s.tasks = 700;
    const json j = check_round_trip(s);
    CHECK(j["t_s"] == 1.2346);
    CHECK(j["server"].is_null());
    s.system.reset();
    s.tasks.reset();
    s.phase = tp::Phase::teardown;
    CHECK(check_round_trip(s)["system"].is_null());
    CHECK_THROWS_AS(tp::phase_from_name("plateau"), std::invalid_argument);
}

TEST_CASE("costs round-trip with the keys the report reads", "[schema]") {
    tp::SideCost side;
    side.threads_added = 300;
    side.vsz_per_thread_kib = 68.0133;
    side.rss_per_thread_kib = 8.4;
    side.rss_anon_per_thread_kib = 8.38;
    side.pte_per_thread_kib = 0.1333;
    side.baseline = process(2);
    side.plateau = process(302);
    const json j = check_round_trip(side);
    CHECK(j["vsz_per_thread_kib"] == 68.01);
    check_keys(j, {"threads_added", "vsz_per_thread_kib", "rss_per_thread_kib",
                   "pte_per_thread_kib", "baseline", "plateau"});

    tp::SystemCost system;
    system.tasks_added = 600;
    system.kernel_stack_per_task_kib = 16.02;
    system.commit_per_task_kib = 88.5;
    system.machine_tasks_added = 950;
    const json s = check_round_trip(system);
    CHECK(s["tasks_counted"] == "probe and server");
    CHECK(s["other_activity"] == true);
    check_keys(s, {"kernel_stack_per_task_kib", "commit_per_task_kib", "other_activity"});
    system.tasks_counted = tp::TasksCounted::machine;
    system.machine_tasks_added.reset();
    CHECK(check_round_trip(system)["tasks_counted"] == "machine");
}

TEST_CASE("threadprobe's failure round-trips, its diagnosis beside it", "[schema]") {
    tp::Failure f;
    f.side = "probe";
    f.operation = "connect";
    f.at_thread = 87;
    f.error = "out of descriptors: 32 kept for sampling";
    f.diagnosis = as_binding();
    const json j = check_round_trip(f);
    check_keys(
        j, {"side", "operation", "at_thread", "error", "binding_limit", "evidence", "readings"});
}

TEST_CASE("limitprobe's rows round-trip as they cross from child to parent", "[schema]") {
    tp::LimitProbeRow row;
    row.stack_bytes = 64 << 20;
    row.threads_reached = 11;
    row.stopped_by = tp::RampStop::pthread_create;
    row.error = "Resource temporarily unavailable (11)";
    row.elapsed_s = 0.00762;
    row.vsz_per_thread_kib = 65540.0;
    row.rss_per_thread_kib = 136.3636;
    row.diagnosis = as_binding();
    const json j = check_round_trip(row);
    check_keys(j, {"stack_bytes", "default_stack", "threads_reached", "stopped_by", "binding_limit",
                   "evidence", "error", "elapsed_s", "vsz_per_thread_kib", "rss_per_thread_kib",
                   "readings"});
    // Every reading keeps what its headroom is computed from.
    const auto back = j.get<tp::LimitProbeRow>();
    REQUIRE(back.diagnosis.readings.size() == row.diagnosis.readings.size());
    for (std::size_t i = 0; i < back.diagnosis.readings.size(); ++i) {
        CHECK(back.diagnosis.readings[i].cost_per_thread ==
              row.diagnosis.readings[i].cost_per_thread);
        CHECK(back.diagnosis.readings[i].reserved == row.diagnosis.readings[i].reserved);
    }

    tp::LimitProbeRow died;  // the child ended before it could say anything
    died.stopped_by.reset();
    died.diagnosis.binding_limit = "unknown";
    const json d = check_round_trip(died);
    CHECK(d["stopped_by"] == "child died");
    CHECK(d["vsz_per_thread_kib"].is_null());
    json wrong = d;
    wrong["stopped_by"] = "gave up";
    CHECK_THROWS_AS(wrong.get<tp::LimitProbeRow>(), std::invalid_argument);
}

TEST_CASE("the machine context round-trips", "[schema]") {
    const json j = check_round_trip(
        tp::read_machine_context(tp::ProcFs{}, ::getpid(), tp::ThreadCost::for_stack(65536, true)));
    check_keys(j, {"time", "host", "kernel", "glibc", "page_size", "topology", "limits"});
    check_keys(j["topology"], {"summary", "cpu_model", "pus"});
}
