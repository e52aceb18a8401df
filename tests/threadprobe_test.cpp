// threadprobe end to end: the real program against a real embedded fibserver on loopback.
// Bounds come from how the machine works, not from a run we liked.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "probe_results.hpp"
#include "procfs.hpp"
#include "report_input.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"
#include "slab.hpp"
#include "test_client.hpp"

namespace {

using tp::test::read_json;

using nlohmann::json;
using tp::test::run_program;

constexpr double kStackKiB = 64;
constexpr double kThreads = 200;

// Page tables per thread (VmPTE counts page-table pages), from how x86_64 maps memory: one
// 4 KiB page-table page holds 512 entries and so maps one 2 MiB-aligned stretch of address
// space; a page-middle-directory page maps 1 GiB.
//   Lower bound: every thread touches the top of its stack (glibc keeps the thread's descriptor
// there), and the stacks are disjoint mappings of at least kStackKiB, so at most
// 2 MiB / 64 KiB = 32 touched tops share one page-table page: N threads need at least
// ceil(N / 32) new ones, less the two at the ends of the stacks' range, which a neighbouring
// mapping may have had before the baseline. 200 threads: at least 5 pages, 0.1 KiB a thread.
//   Upper bound: a stack and its guard (far under 2 MiB) straddle at most two 2 MiB stretches,
// so two page-table pages a thread; on top, what else the process may touch for the first time
// while its threads run, spread over them: malloc arenas (at most 8 per core), each one
// page-table page and one middle-directory page. 200 threads on 2 cores: 8.64 KiB a thread.
// A probe that reported bytes, pages, another process or the whole VmPTE would fall outside.
struct PageTableBounds {
    double low_kib = 0, high_kib = 0;
};
PageTableBounds page_table_bounds(double threads) {
    constexpr double kPageKiB = 4, kStretchKiB = 2048;
    const double stacks_per_page = kStretchKiB / kStackKiB;
    const double arenas = 8.0 * std::max(1u, std::thread::hardware_concurrency());
    PageTableBounds b;
    b.low_kib = std::max(0.0, std::ceil(threads / stacks_per_page) - 2) * kPageKiB / threads;
    b.high_kib = 2 * kPageKiB + arenas * 2 * kPageKiB / threads;
    return b;
}

// The per-thread figures are the slope the report plots: (plateau - baseline) / threads added,
// rounded to 0.01 KiB; and 200 threads only ever add memory.
void check_slopes(const tp::report::SideMemory& side) {
    REQUIRE(side.threads_added > 0);
    const auto slope = [&](double baseline, double plateau) {
        return (plateau - baseline) / side.threads_added;
    };
    CHECK(side.plateau_vsz_kib >= side.baseline_vsz_kib);
    CHECK(side.plateau_rss_kib >= side.baseline_rss_kib);
    CHECK(side.plateau_pte_kib >= side.baseline_pte_kib);
    CHECK(side.vsz_per_thread_kib ==
          Approx(slope(side.baseline_vsz_kib, side.plateau_vsz_kib)).margin(0.01));
    CHECK(side.rss_per_thread_kib ==
          Approx(slope(side.baseline_rss_kib, side.plateau_rss_kib)).margin(0.01));
    CHECK(side.pte_per_thread_kib ==
          Approx(slope(side.baseline_pte_kib, side.plateau_pte_kib)).margin(0.01));
}

std::filesystem::path temp_path(const std::string& name) {
    return tp::test::temp_path("threadprobe", name);
}

// The size of one tcp_sock on this kernel, from slabinfo; nullopt where it cannot be read.
std::optional<double> tcp_sock_kib() {
    const auto text = tp::read_small_file("/proc/slabinfo");
    if (!text) return std::nullopt;
    const auto slabs = tp::parse_slabinfo(*text);
    if (!slabs) return std::nullopt;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string name;
        std::uint64_t active = 0, total = 0, size = 0;
        if (fields >> name >> active >> total >> size && name == "TCP")
            return static_cast<double>(size) / 1024;
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("200 threads at 64k: per-thread cost within what the machine allows", "[threadprobe]") {
    const auto path = temp_path("200.json");
    const auto run = run_program("threadprobe", {"--threads=200", "--stack=64k", "--hold=300ms",
                                                 "--json", path.string(), "--quiet"});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    const json r = read_json(path);
    std::filesystem::remove(path);

    CHECK(r["tool"] == "threadprobe");
    const json& s = r["summary"];
    CHECK(s["spawn_s"].get<double>() > 0);
    CHECK(s["failure"].is_null());

    // Everything the report reads from a sweep run, read by its own reader: a key missing or of
    // the wrong type fails here naming both.
    const std::string name = "threadprobe-64k-200";
    const auto results = tp::test::report_input(name, r);
    tp::test::check_context_as_the_report_reads_it(results, name);
    const tp::report::ThreadRun cost = tp::report::read_thread_run(results, name);
    CHECK(cost.stack_bytes == kStackKiB * 1024);
    CHECK_FALSE(cost.default_stack);
    CHECK(cost.connections == kThreads);
    // The probe side gained exactly its connection threads (its sampler started before the
    // baseline): a thread of its own added meanwhile would be charged to the connections. The
    // server made one thread per connection.
    CHECK(cost.probe.threads_added == kThreads);
    CHECK(cost.server.threads_added >= kThreads);

    for (const auto* side : {&cost.probe, &cost.server}) {
        INFO((side == &cost.probe ? "probe" : "server") << " side");
        check_slopes(*side);
        // Each thread maps its stack plus a guard page; glibc's thread descriptor and TLS live
        // inside the stack mapping. Anything beyond a few pages would be a leak or an arena.
        // (Sanitizers add their own per-thread state: only the lower bounds hold there.)
        CHECK(side->vsz_per_thread_kib >= kStackKiB);
        if (!tp::test::kSanitized) CHECK(side->vsz_per_thread_kib < kStackKiB + 64);
        // A thread touches at least one page of its stack, and far less than all of it.
        CHECK(side->rss_per_thread_kib >= 4);
        if (!tp::test::kSanitized) CHECK(side->rss_per_thread_kib < kStackKiB);
        const PageTableBounds pte = page_table_bounds(side->threads_added);
        CHECK(side->pte_per_thread_kib >= pte.low_kib);
        if (!tp::test::kSanitized) CHECK(side->pte_per_thread_kib <= pte.high_kib);
    }

    // Every task has a kernel stack: 16 KiB on x86_64 (THREAD_SIZE), 8 KiB on some others.
    CHECK(cost.kernel_stack_per_task_kib >= 4);
    CHECK(cost.kernel_stack_per_task_kib <= 64);

    // Every connection end is a socket the kernel allocates whatever the model: a tcp_sock, a
    // socket inode, a file. Idle, it holds no buffers, so a few of those objects bound it.
    const json& socket = s["system"]["socket_kernel"];
    REQUIRE(socket.is_object());
    CHECK(socket["ends"] == 2 * kThreads);
    CHECK(s["system"]["socket_kernel_kib_per_end"] == socket["kib_per_end"]);
    const auto tcp_object_kib = tcp_sock_kib();
    if (socket["source"] != "/proc/slabinfo" || !tcp_object_kib) {
        WARN(
            "/proc/slabinfo is not readable here (root only): the socket caches are not "
            "checked, only meminfo's Slab total was read");
    } else {
        const double per_end = socket["kib_per_end"];
        // At least the tcp_sock itself (a neighbour freeing sockets meanwhile could take a
        // little off), and not more than a handful of objects of that size.
        CHECK(per_end >= 0.8 * *tcp_object_kib);
        CHECK(per_end <= 4 * *tcp_object_kib);
        bool tcp_listed = false;
        for (const auto& cache : socket["caches"])
            if (cache["cache"] == "TCP") {
                tcp_listed = true;
                CHECK(cache["counted"] == true);
            }
        CHECK(tcp_listed);
    }

    const json& ctx = r["context"];
    CHECK(ctx["topology"]["cores"].get<int>() >= 1);
    CHECK(ctx["limits"].size() >= 5);

    // Samples cover every phase, in time order.
    std::set<std::string> phases;
    double last_t = -1;
    for (const auto& sample : r["samples"]) {
        phases.insert(sample["phase"].get<std::string>());
        CHECK(sample["t_s"].get<double>() >= last_t);
        last_t = sample["t_s"];
    }
    CHECK(phases == std::set<std::string>{"baseline", "ramp", "hold", "teardown"});
}

TEST_CASE("the table shows both sides and the system figures", "[threadprobe]") {
    const auto csv = temp_path("20.csv");
    const auto run = run_program(
        "threadprobe", {"--threads=20", "--stack=16k", "--hold=200ms", "--csv", csv.string()});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("connections  20 of 20 up"));
    CHECK_THAT(run.out, Catch::Contains("probe") && Catch::Contains("server") &&
                            Catch::Contains("VSZ/thread") && Catch::Contains("kernel stack"));
    // Not a terminal: no progress lines on stderr.
    CHECK(run.err.empty());
    std::ifstream in(csv);
    std::string header;
    std::getline(in, header);
    CHECK_THAT(header, Catch::StartsWith("t_s,phase,connections,probe_threads,probe_vsz_kib"));
    std::filesystem::remove(csv);
}

TEST_CASE("cpuset binds the connection threads and says so", "[threadprobe]") {
    const auto path = temp_path("cpuset.json");
    const auto run = run_program("threadprobe", {"--threads=20", "--stack=64k", "--hold=100ms",
                                                 "--cpuset=0", "--json", path.string()});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Contains("threads bound to PUs 0"));
    const json r = read_json(path);
    std::filesystem::remove(path);
    CHECK(r["config"]["cpuset"] == "0");
    CHECK(r["summary"]["connections"] == 20);
}

TEST_CASE("thread creation failing mid-run: limit named, results kept, exit 1", "[threadprobe]") {
    // A 64 MiB stack per thread under a 768 MiB address-space limit: the probe runs out of
    // address space after a handful of threads, and must say that RLIMIT_AS is why.
    if (tp::test::kSanitized) {
        WARN("skipped: a sanitizer's shadow memory does not fit under RLIMIT_AS");
        return;
    }
    const auto path = temp_path("as.json");
    tp::test::RunOptions options;
    options.address_space_limit = 768ull << 20;
    const auto run = run_program(
        "threadprobe",
        {"--threads=100", "--stack=64m", "--hold=200ms", "--json", path.string(), "--quiet"},
        options);
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::Contains("RLIMIT_AS"));
    const json r = read_json(path);
    std::filesystem::remove(path);
    const json& failure = r["summary"]["failure"];
    REQUIRE(failure.is_object());
    CHECK(failure["binding_limit"] == "RLIMIT_AS");
    CHECK(failure["at_thread"].get<int>() < 100);
    CHECK_THAT(failure["evidence"].get<std::string>(), Catch::Contains("Max address space"));
    // What was reached is still measured.
    CHECK(r["summary"]["connections"].get<int>() == failure["at_thread"].get<int>());
    CHECK(r["samples"].size() >= 3);
}

TEST_CASE("out of descriptors: the probe stops short of RLIMIT_NOFILE, names it, keeps results",
          "[threadprobe]") {
    // 128 descriptors for 300 connections: the probe must keep enough to go on sampling and
    // say why it stopped, not die reading /proc/meminfo.
    auto server =
        tp::test::start_fibserver({"--max-connections", "1000", "--idle-timeout", "none"});
    const auto path = temp_path("nofile.json");
    tp::test::RunOptions options;
    options.descriptor_limit = 128;
    const auto run =
        run_program("threadprobe",
                    {"--threads=300", "--stack=64k", "--hold=200ms", "--connect",
                     fmt::format("{}:{}", server.endpoint().host, server.endpoint().port), "--json",
                     path.string(), "--quiet"},
                    options);
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    const json r = read_json(path);
    std::filesystem::remove(path);
    const json& failure = r["summary"]["failure"];
    REQUIRE(failure.is_object());
    CHECK(failure["binding_limit"] == "RLIMIT_NOFILE");
    CHECK(failure["operation"] == "connect");
    // Every connection it made holds one descriptor, under the 128 less the kept ones.
    const int connections = r["summary"]["connections"].get<int>();
    CHECK(connections > 0);
    CHECK(connections < 128 - 32);
    CHECK(r["samples"].size() >= 3);
}

TEST_CASE("bad input: one line naming the flag, exit 2", "[threadprobe]") {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{"--threads=0"}, "--threads"},       {{"--threads=-5"}, "--threads"},
        {{"--stack=12q"}, "--stack"},         {{"--stack=1k"}, "minimum"},
        {{"--stack=2g"}, "--stack"},          {{"--touch=1m", "--stack=64k"}, "--touch"},
        {{"--hold=soon"}, "--hold"},          {{"--connect=nowhere"}, "--connect"},
        {{"--server-pid=1"}, "--server-pid"}, {{"--frobnicate"}, "frobnicate"},
    };
    for (const auto& c : cases) {
        const auto run = run_program("threadprobe", c.args);
        INFO(c.args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("threadprobe: error: ") && Catch::Contains(c.says) &&
                                Catch::EndsWith("(see --help)\n"));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
        CHECK(run.out.empty());
    }
}

TEST_CASE("runtime failures: one line, exit 1, nothing left behind", "[threadprobe]") {
    SECTION("an unwritable --json path fails before the run") {
        const auto run =
            run_program("threadprobe", {"--threads=10", "--json=/nonexistent-dir/r.json"});
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.err, Catch::StartsWith("threadprobe: cannot write /nonexistent-dir/r.json"));
        CHECK(run.out.empty());
    }
    SECTION("an unreachable server") {
        // Port 1 on loopback: nothing listens there unless root put it there.
        const auto run = run_program("threadprobe", {"--threads=10", "--connect=127.0.0.1:1"});
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.err, Catch::StartsWith("threadprobe: connect to 127.0.0.1:1"));
    }
    CHECK(tp::test::children_of(::getpid()).empty());
}

TEST_CASE("a run past the safety margin is refused before it starts, unless --to-the-limit",
          "[threadprobe]") {
    const tp::ProcFs fs;
    const auto pid_max = fs.sysctl("kernel.pid_max");
    const auto threads_max = fs.sysctl("kernel.threads-max");
    const auto tasks = fs.tasks();
    REQUIRE(pid_max);
    REQUIRE(threads_max);
    REQUIRE(tasks);
    // Keep all but 50 tasks free: 100 connections (and their 100 server threads) cannot fit.
    const std::uint64_t usable = std::min(*pid_max - 300, *threads_max);
    REQUIRE(usable > *tasks + 50);
    const std::string keep = fmt::format("0%,{}", usable - *tasks - 50);
    const auto refused = run_program(
        "threadprobe", {"--threads=100", "--stack=64k", "--hold=100ms", "--keep-free", keep});
    INFO(refused.err);
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Catch::Contains("--threads") && Catch::Contains("safety margin") &&
                                Catch::Contains("--to-the-limit"));
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
    // Told to, it goes, and says what that means for the machine.
    const auto told =
        run_program("threadprobe", {"--threads=100", "--stack=64k", "--hold=100ms", "--keep-free",
                                    keep, "--to-the-limit", "--quiet"});
    INFO(told.err);
    CHECK(told.exit_code == 0);
    CHECK_THAT(told.err, Catch::Contains("warning: --to-the-limit"));
}
