// threadprobe --pid against a subject whose threads recurse to known depths and block: every
// thread's stack found, reserved as asked, resident and high-water within two pages of what it
// touched; and the bad input a live process brings.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "deep_threads_subject.hpp"
#include "result_files.hpp"
#include "run_program.hpp"

namespace {

using nlohmann::json;
using tp::test::run_program;

using Subject = tp::test::DeepThreads;

const json* thread_of(const json& r, pid_t tid) {
    for (const json& t : r["threads"])
        if (t["tid"] == tid) return &t;
    return nullptr;
}

void check_depths(const std::string& stack, std::uint64_t stack_kib, const std::string& depths) {
    Subject subject(stack, depths);
    const json r = tp::test::run_for_json("threadprobe", {"--pid", std::to_string(subject.pid())});
    const std::uint64_t page_kib = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) / 1024;
    CHECK(r["process"]["threads"] == subject.ready["threads"].size() + 1);
    // The main thread is found, in [stack].
    const json* main = thread_of(r, subject.pid());
    REQUIRE(main);
    CHECK((*main)["located_by"] == "[stack]");
    for (const json& expected : subject.ready["threads"]) {
        const json* t = thread_of(r, expected["tid"].get<pid_t>());
        REQUIRE(t);
        INFO(t->dump());
        REQUIRE((*t)["mapping"].is_string());
        CHECK((*t)["stack_reserved_kib"] == stack_kib);
        // What it touched: from the deepest byte it wrote up to the top of its mapping.
        const std::string mapping = (*t)["mapping"];
        const std::uint64_t end = std::stoull(mapping.substr(mapping.find('-') + 1), nullptr, 16);
        const std::uint64_t lowest = expected["lowest"];
        const std::uint64_t touched_kib = (end - (lowest & ~(page_kib * 1024 - 1))) / 1024;
        const auto high_water = (*t)["stack_high_water_kib"].get<std::uint64_t>();
        const auto resident = (*t)["stack_resident_kib"].get<std::uint64_t>();
        CHECK(high_water + 2 * page_kib >= touched_kib);
        CHECK(high_water <= touched_kib + 2 * page_kib);
        CHECK(resident + 2 * page_kib >= touched_kib);
        CHECK(resident <= touched_kib + 2 * page_kib);
        // At least as deep as it was asked to go.
        CHECK(high_water >= expected["depth_kib"].get<std::uint64_t>());
    }
    // The deepest thread is the distribution's max, and the suggestion holds it.
    const json& h = r["high_water"];
    CHECK(h["threads"] == subject.ready["threads"].size());
    CHECK(h["suggested_stack_kib"].get<std::uint64_t>() >= h["max_kib"].get<std::uint64_t>());
    CHECK(r["forecast"]["threads"].get<std::uint64_t>() >
          r["process"]["threads"].get<std::uint64_t>());
}

}  // namespace

TEST_CASE(
    "pid: 64 KiB stacks at known depths are found, reserved, resident and as deep as they went",
    "[live]") {
    check_depths("65536", 64, "4,16,40");
}

TEST_CASE("pid: default 8 MiB stacks at known depths", "[live]") {
    check_depths("default", 8192, "8,64,512");
}

TEST_CASE("pid: 16 KiB stacks at known depths", "[live]") {
    check_depths("16384", 16, "2,6");
}

TEST_CASE("pid: watch keeps sampling and the high-water marks only grow", "[live]") {
    Subject subject("65536", "8,24");
    const json r = tp::test::run_for_json(
        "threadprobe",
        {"--pid", std::to_string(subject.pid()), "--watch", "600ms", "--interval", "200ms"});
    const json& samples = r["samples"];
    REQUIRE(samples.size() >= 3);
    for (std::size_t i = 1; i < samples.size(); ++i) {
        CHECK(samples[i]["t_s"] > samples[i - 1]["t_s"]);
        CHECK(samples[i]["max_high_water_kib"] >= samples[i - 1]["max_high_water_kib"]);
        // The subject's threads stay blocked: the watch's one scan of every known stack
        // (PAGEMAP_SCAN, where the kernel has it) finds the pages the first inspection read
        // stack by stack.
        CHECK(samples[i]["stacks_resident_kib"] == samples[0]["stacks_resident_kib"]);
        CHECK(samples[i]["max_high_water_kib"] == samples[0]["max_high_water_kib"]);
    }
}

TEST_CASE("pid: bad input is one line, and the exit code says which kind", "[live]") {
    // Spawning options make no sense against a live process.
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--pid", "1", "--threads", "10"},
          std::vector<std::string>{"--pid", "1", "--stack", "64k"},
          std::vector<std::string>{"--pid", "1", "--interval", "1s"}}) {
        const auto run = run_program("threadprobe", args);
        INFO(run.err);
        CHECK(run.exit_code == 2);
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    // A kernel thread has no user stacks: kthreadd is pid 2 on Linux.
    if (std::filesystem::exists("/proc/2/status")) {
        const auto run = run_program("threadprobe", {"--pid", "2"});
        INFO(run.err);
        CHECK(run.exit_code == 1);
        CHECK_THAT(run.err, Catch::Contains("kernel thread"));
    }
    // A zombie: a child that exited and was not reaped yet.
    tp::Subprocess zombie({"/bin/true"});
    for (int i = 0; i < 200; ++i) {
        std::ifstream stat("/proc/" + std::to_string(zombie.pid()) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        if (text.find(") Z") != std::string::npos) break;
        ::usleep(5000);
    }
    const auto z = run_program("threadprobe", {"--pid", std::to_string(zombie.pid())});
    INFO(z.err);
    CHECK(z.exit_code == 1);
    CHECK_THAT(z.err, Catch::Contains("zombie"));
    // No such process.
    const auto none = run_program("threadprobe", {"--pid", "2147483646"});
    INFO(none.err);
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.err, Catch::Contains("no such process"));
}
