// stackprobe end to end: the real program recursing into guard pages, in children of its own.
// Bounds come from how glibc lays out a thread's stack and how the kernel pages it in, not
// from a run we liked.
#include "stackprobe.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "probe_results.hpp"
#include "report_input.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"

namespace {

using tp::test::read_json;

using nlohmann::json;
using tp::test::run_program;

std::filesystem::path temp_path(const std::string& name) {
    return tp::test::temp_path("stackprobe", name);
}

// The whole sweep takes well under a second; a run that takes this long is stuck.
tp::test::RunOptions bounded() {
    tp::test::RunOptions options;
    options.timeout = std::chrono::seconds(30);
    return options;
}

json run_to_json(const std::vector<std::string>& args, const std::string& name) {
    const auto path = temp_path(name);
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--json", path.string(), "--quiet"});
    const auto run = run_program("stackprobe", all, bounded());
    INFO(run.err);
    REQUIRE_FALSE(run.timed_out);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out.empty());
    json r = read_json(path);
    std::filesystem::remove(path);
    return r;
}

const json& result_for(const json& r, std::uint64_t stack_bytes) {
    for (const auto& row : r["results"])
        if (row["stack_bytes"].get<std::uint64_t>() == stack_bytes) return row;
    FAIL("no result for a stack of " << stack_bytes << " bytes");
    throw std::logic_error("unreachable");
}

// Every stackprobe run measures how thread stacks are laid out and paged in (the sweep, and the
// paging curve even when only the main thread is checked); under ThreadSanitizer the layout is
// the sanitizer's (see sanitized.hpp), so its runs fail and their figures cannot be checked.
bool stack_layout_is_the_programs() {
    if (tp::test::kThreadSanitized) WARN("ThreadSanitizer owns the top of every thread stack");
    return !tp::test::kThreadSanitized;
}

}  // namespace

TEST_CASE("recursion fills a thread stack to just under its size, never beyond", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const json r = run_to_json({"--stack=64k,256k"}, "sweep.json");
    CHECK(r["tool"] == "stackprobe");
    REQUIRE(r["results"].size() == 2);

    for (const std::uint64_t stack : {64u << 10, 256u << 10}) {
        const json& row = result_for(r, stack);
        INFO(row.dump());
        CHECK(row["ended_by"] == "SIGSEGV at guard page");
        // A frame holds the buffer asked for, and the return address and saved registers.
        CHECK(row["frame_bytes"].get<std::uint64_t>() >= 256);
        const auto usable = row["usable_bytes"].get<std::uint64_t>();
        const auto depth = row["max_depth"].get<std::uint64_t>();
        CHECK(usable == depth * row["frame_bytes"].get<std::uint64_t>());
        // Every frame that fit was inside the stack: the guard page is beyond stack_bytes.
        CHECK(usable <= stack);
        CHECK(row["guard_bytes"].get<std::uint64_t>() >= 4096);
        // glibc keeps its descriptor (struct pthread) and static TLS at the top of the stack,
        // a few KiB. A sanitizer may keep per-thread state of its own there too (ASan+UBSan
        // here do not; other options or versions might): below 3/4, warn rather than fail.
        CHECK(row["descriptor_bytes"].get<std::uint64_t>() >= 512);
        if (tp::test::kSanitized && usable < stack * 3 / 4) {
            WARN("sanitizer build: " << usable << " of " << stack << " bytes usable");
            CHECK(usable >= stack / 4);
        } else {
            CHECK(usable >= stack * 3 / 4);
        }
        CHECK(row["above_first_frame_bytes"].get<std::uint64_t>() +
                  row["below_last_frame_bytes"].get<std::uint64_t>() + usable ==
              stack);
    }
    // Four times the stack, four times the frames less the fixed overhead at the top.
    const auto depth_64k = result_for(r, 64 << 10)["max_depth"].get<std::uint64_t>();
    const auto depth_256k = result_for(r, 256 << 10)["max_depth"].get<std::uint64_t>();
    CHECK(depth_256k > 3 * depth_64k);

    // What the report reads from the sweep, read by its own reader.
    const auto results = tp::test::report_input("stackprobe", r);
    tp::test::check_context_as_the_report_reads_it(results, "stackprobe");
    const auto depths = tp::report::read_stack_depths(results);
    REQUIRE(depths.size() == 2);
    for (const auto& d : depths) {
        INFO(d.label);
        CHECK(d.label == (d.stack_bytes == (64u << 10) ? "64 KiB" : "256 KiB"));
        CHECK(d.depth == result_for(r, d.stack_bytes)["max_depth"].get<double>());
        CHECK(d.ended_by == "SIGSEGV at guard page");
        // A ratio of byte counts, rounded to four decimals.
        CHECK(d.usable_ratio == Approx(d.depth * d.frame_bytes / d.stack_bytes).margin(1e-4));
        CHECK(d.descriptor_bytes <= d.above_first_frame_bytes);
    }

    const json& config = r["config"];
    CHECK(config["frame_bytes"] == 256);
    CHECK(config["stacks"].size() == 2);
    const json& ctx = r["context"];
    CHECK(ctx["page_size"].get<long>() == ::sysconf(_SC_PAGESIZE));
    CHECK_FALSE(ctx["glibc"].get<std::string>().empty());
}

TEST_CASE("the main thread recurses up to RLIMIT_STACK, capped", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const json r = run_to_json({"--stack=64k"}, "main.json");
    const json& m = r["main_thread"];
    INFO(m.dump());
    CHECK(m["ended_by"] == "SIGSEGV at RLIMIT_STACK");
    const auto applied = m["rlimit_applied_bytes"].get<std::uint64_t>();
    CHECK(applied <= (64u << 20));
    CHECK(m["stack_bytes"].get<std::uint64_t>() == applied);
    if (m["rlimit_stack_soft_bytes"].is_null()) {
        CHECK(m["capped"] == true);
    } else {
        CHECK(applied <= m["rlimit_stack_soft_bytes"].get<std::uint64_t>());
    }
    CHECK(m["max_depth"].get<std::uint64_t>() > 0);
    CHECK(m["frame_bytes"].get<std::uint64_t>() >= 256);
    const auto usable = m["usable_bytes"].get<std::uint64_t>();
    CHECK(usable <= applied);
    // Above the first frame: the arguments, the environment and main()'s callers, a few KiB
    // unless the environment is huge.
    CHECK(usable >= applied / 2);
}

TEST_CASE("the stack is paged in one page at a time", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const json r = run_to_json({"--stack=16k"}, "paging.json");
    // The curve as the report reads it: resident KiB (counted with mincore) against depth.
    const tp::report::Paging p = tp::report::read_paging(tp::test::report_input("stackprobe", r));
    const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    CHECK(p.page_bytes == page);
    CHECK(p.resident_step_bytes == page);

    REQUIRE(p.samples.size() >= 16);
    double last_depth = 0, last_resident = 0;
    for (const auto& s : p.samples) {
        CHECK(s.depth_kib > last_depth);
        CHECK(s.resident_kib >= last_resident);
        // What the recursion has used is resident, in whole pages...
        CHECK(s.resident_kib >= s.depth_kib);
        CHECK(std::fmod(s.resident_kib * 1024, page) == 0);
        last_depth = s.depth_kib;
        last_resident = s.resident_kib;
    }
    // ...and little more: the unused rest of the 1 MiB stack is not backed by memory.
    CHECK(last_depth * 1024 >= r["paging"]["depth_bytes"].get<double>());
    CHECK(last_resident * 1024 < last_depth * 1024 + 4 * page);
    CHECK(last_resident * 1024 < p.stack_bytes / 2);
}

TEST_CASE("a bigger frame: bigger measured frames, fewer of them", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const json small = run_to_json({"--stack=256k", "--frame=256"}, "small.json");
    const json big = run_to_json({"--stack=256k", "--frame=4k"}, "big.json");
    const json& s = small["results"][0];
    const json& b = big["results"][0];
    CHECK(b["frame_bytes"].get<std::uint64_t>() >= 4096);
    CHECK(b["max_depth"].get<std::uint64_t>() < s["max_depth"].get<std::uint64_t>());
    CHECK(b["ended_by"] == "SIGSEGV at guard page");
    CHECK(b["usable_bytes"].get<std::uint64_t>() <= (256u << 10));
}

TEST_CASE("the table: a row per size, the main thread, the paging staircase", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const auto run = run_program("stackprobe", {"--stack=16k,default"}, bounded());
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(run.err.empty());
    CHECK_THAT(run.out, Catch::StartsWith("stackprobe ") && Catch::Contains("16 KiB") &&
                            Catch::Contains("(default)") && Catch::Contains("main ") &&
                            Catch::Contains("SIGSEGV at guard page") &&
                            Catch::Contains("SIGSEGV at RLIMIT_STACK") &&
                            Catch::Contains("thread descriptor") &&
                            Catch::Contains(fmt::format("steps of {} B", ::sysconf(_SC_PAGESIZE))));
}

TEST_CASE("a stack size that is not whole pages is rounded up, and said so", "[stackprobe]") {
    if (!stack_layout_is_the_programs()) return;
    const auto path = temp_path("rounded.json");
    const auto run =
        run_program("stackprobe", {"--stack=20000", "--json", path.string(), "-q"}, bounded());
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.err, Catch::Contains("--stack 20000 rounded up to"));
    const json r = read_json(path);
    std::filesystem::remove(path);
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const auto bytes = r["results"][0]["stack_bytes"].get<std::uint64_t>();
    CHECK(bytes % page == 0);
    CHECK(bytes >= 20000);
    CHECK(bytes < 20000 + page);
}

TEST_CASE("stackprobe bad input: one line naming the flag, exit 2", "[stackprobe]") {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{"--frame=0"}, "--frame"},   {{"--frame=-5"}, "--frame"},
        {{"--frame=abc"}, "--frame"}, {{"--frame=1m"}, "--frame"},
        {{"--frame=8k"}, "--frame"},  {{"--stack=1k"}, "minimum"},
        {{"--stack=2g"}, "--stack"},  {{"--stack=16k,,64k"}, "--stack"},
        {{"--stack=12q"}, "--stack"}, {{"--frobnicate"}, "frobnicate"},
    };
    for (const auto& c : cases) {
        const auto run = run_program("stackprobe", c.args, bounded());
        INFO(c.args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("stackprobe: error: ") && Catch::Contains(c.says) &&
                                Catch::EndsWith("(see --help)\n"));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
        CHECK(run.out.empty());
    }
}

TEST_CASE("stackprobe: an unwritable json path fails before the run, exit 1", "[stackprobe]") {
    const auto run = run_program("stackprobe", {"--json=/nonexistent-dir/r.json"}, bounded());
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::StartsWith("stackprobe: cannot write /nonexistent-dir/r.json"));
    CHECK(run.out.empty());
}

TEST_CASE("stackprobe's reading of a run: frame median, page step, how it ended", "[stackprobe]") {
    SECTION("the median frame ignores an odd first level") {
        CHECK(tp::median_frame_bytes({}) == std::nullopt);
        CHECK(tp::median_frame_bytes({1000}) == std::nullopt);
        CHECK(tp::median_frame_bytes({10000, 9000, 8680, 8360, 8040}) == 320);
    }
    SECTION("the typical step is the most frequent increase") {
        std::vector<tp::PagingSample> samples;
        for (std::uint64_t i = 0; i < 20; ++i) samples.push_back({i * 1024, (2 + i / 4) * 4096});
        samples.push_back({21 * 1024, 20 * 4096});  // one jump of several pages
        CHECK(tp::typical_step(samples) == 4096);
        CHECK(tp::typical_step({{0, 8192}, {1024, 8192}}) == std::nullopt);
    }
    SECTION("a crash with a frame's room left is the guard page; more room is not") {
        tp::DepthRun run;
        run.stack = tp::StackRange{0x100000, 0x110000, 4096};
        run.first_addresses = {0x10e000, 0x10dec0, 0x10dd80};
        // 179 frames of 320 bytes from 0x10e000 down leave 384 bytes above the guard page.
        run.levels = 179;
        run.deepest_address = 0x10e000 - 178 * 320;
        run.outcome.signal = SIGSEGV;
        const auto r = tp::interpret(run, "64 KiB", 0x10000, tp::StackKind::thread, 4096);
        CHECK(r.frame_bytes == 320);
        CHECK(r.usable_bytes == 179 * 320);
        CHECK(r.below_last_frame_bytes == 384);
        CHECK(r.above_first_frame_bytes + r.below_last_frame_bytes + r.usable_bytes == 0x10000);
        CHECK(r.ended_by == "SIGSEGV at guard page");
        CHECK(r.reached_end);

        run.levels = 100;
        run.deepest_address = 0x10e000 - 99 * 320;
        const auto early = tp::interpret(run, "64 KiB", 0x10000, tp::StackKind::thread, 4096);
        CHECK_THAT(early.ended_by, Catch::StartsWith("SIGSEGV ") && Catch::Contains("short of"));
        CHECK_FALSE(early.reached_end);

        run.outcome = {};
        run.outcome.exit_code = 3;
        run.outcome.message = "pthread_create: Resource temporarily unavailable";
        const auto failed = tp::interpret(run, "64 KiB", 0x10000, tp::StackKind::thread, 4096);
        CHECK(failed.ended_by == "exit 3: pthread_create: Resource temporarily unavailable");
        CHECK_FALSE(failed.reached_end);
    }
}
