// The thread-stack reader on fixture machines made here: stacks merged into one mapping with
// their guards installed inside it (MADV_GUARD_INSTALL's layout: no PROT_NONE mapping, guard
// bits in pagemap), and a thread running at the instant it is read.
#include "thread_stacks.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "temp_tree.hpp"

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kPresent = 1ull << 63;
constexpr std::uint64_t kGuard = 1ull << 58;

// A pagemap with `entries` (page index -> entry) and zero everywhere else below `pages`.
std::string pagemap(std::uint64_t pages,
                    const std::vector<std::pair<std::uint64_t, std::uint64_t>>& entries) {
    std::string out(pages * 8, '\0');
    for (const auto& [index, entry] : entries) std::memcpy(&out[index * 8], &entry, 8);
    return out;
}

const tp::ThreadStack& thread(const tp::StackInspection& s, pid_t tid) {
    for (const auto& t : s.threads)
        if (t.tid == tid) return t;
    FAIL("no thread " << tid);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE(
    "merged stacks with in-mapping guards are split per thread, and a running thread is said so",
    "[thread_stacks]") {
    if (::sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) {
        WARN("skipped: the fixture is laid out in 4 KiB pages");
        return;
    }
    tp::test::TempTree tree;
    tree.write("proc/4242/stat", "4242 (app) S 1 4242 4242 0 -1\n");
    tree.write("proc/4242/limits",
               "Max stack size            8388608              unlimited            bytes\n");
    // Two 64 KiB stacks in one mapping (no ---p between them), and the main thread's [stack].
    tree.write("proc/4242/maps",
               "00100000-00101000 r-xp 00000000 08:01 12 /usr/bin/app\n"
               "00200000-00220000 rw-p 00000000 00:00 0 \n"
               "00300000-00301000 rw-p 00000000 00:00 0 [stack]\n");
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pages = {
        {0x200, kGuard},   {0x20e, kPresent}, {0x20f, kPresent},  // first stack
        {0x210, kGuard},   {0x21c, kPresent}, {0x21d, kPresent},
        {0x21e, kPresent}, {0x21f, kPresent},  // second
        {0x300, kPresent}};                    // [stack]
    tree.write("proc/4242/pagemap", pagemap(0x301, pages));
    tree.write("proc/4242/task/4242/stat", "4242 (app) S 1\n");
    tree.write("proc/4242/task/4242/syscall", "-1 0x300800 0x100100\n");
    tree.write("proc/4242/task/4243/stat", "4243 (worker 1) S 1\n");
    tree.write("proc/4242/task/4243/syscall", "202 0x1 0x2 0x3 0x4 0x5 0x6 0x20f800 0x100200\n");
    tree.write("proc/4242/task/4244/stat", "4244 (worker 2) S 1\n");
    tree.write("proc/4242/task/4244/syscall", "202 0x1 0x2 0x3 0x4 0x5 0x6 0x21e000 0x100200\n");
    tree.write("proc/4242/task/4245/stat", "4245 (busy) R 1\n");
    tree.write("proc/4242/task/4245/syscall", "running\n");

    const auto s =
        tp::inspect_thread_stacks(tp::ProcFs({tree.root() / "proc", tree.root() / "sys"}), 4242);
    REQUIRE(s.threads.size() == 4);
    CHECK(s.name == "app");

    const auto& first = thread(s, 4243);
    CHECK(first.name == "worker 1");
    CHECK_THAT(first.located_by, Catch::Contains("split by stride"));
    CHECK(first.guard == "guard pages (pagemap)");
    CHECK(first.guard_kib == 4);
    CHECK(first.reserved_kib == 60);
    CHECK(first.resident_kib == 8);
    CHECK(first.high_water_kib == 8);

    const auto& second = thread(s, 4244);
    CHECK(second.start == 0x211000);  // above its own guard page, not the first stack's
    CHECK(second.reserved_kib == 60);
    CHECK(second.resident_kib == 16);
    CHECK(second.high_water_kib == 16);

    const auto& busy = thread(s, 4245);
    CHECK_FALSE(busy.located());
    CHECK_THAT(busy.located_by, Catch::Contains("running"));

    const auto& main = thread(s, 4242);
    CHECK(main.main);
    CHECK(main.located_by == "[stack]");
    CHECK(main.reserved_kib == 8192);  // RLIMIT_STACK, not the mapping's current size
    CHECK(main.resident_kib == 4);
}

TEST_CASE("a zombie, a kernel thread and a missing process are one line each", "[thread_stacks]") {
    tp::test::TempTree tree;
    tree.write("proc/7/stat", "7 (gone) Z 1\n");
    tree.write("proc/7/maps", "");
    tree.write("proc/8/stat", "8 (kworker/0:1) I 2\n");
    tree.write("proc/8/maps", "");
    const tp::ProcFs fs({tree.root() / "proc", tree.root() / "sys"});
    CHECK_THROWS_WITH(tp::inspect_thread_stacks(fs, 7), Catch::Contains("zombie"));
    CHECK_THROWS_WITH(tp::inspect_thread_stacks(fs, 8), Catch::Contains("kernel thread"));
    CHECK_THROWS_WITH(tp::inspect_thread_stacks(fs, 9), Catch::Contains("no such process"));
}

TEST_CASE("a thread running at every read gets the one stack no blocked thread claims",
          "[thread_stacks]") {
    if (::sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) {
        WARN("skipped: the fixture is laid out in 4 KiB pages");
        return;
    }
    tp::test::TempTree tree;
    tree.write("proc/4300/stat", "4300 (app) S 1 4300 4300 0 -1\n");
    // glibc's layout: each 64 KiB stack above its own 4 KiB PROT_NONE guard; a malloc arena
    // (read-write below its PROT_NONE reserve) that must not be taken for a stack.
    tree.write("proc/4300/maps",
               "00100000-00101000 r-xp 00000000 08:01 12 /usr/bin/app\n"
               "00200000-00201000 ---p 00000000 00:00 0 \n"
               "00201000-00211000 rw-p 00000000 00:00 0 \n"
               "00211000-00212000 ---p 00000000 00:00 0 \n"
               "00212000-00222000 rw-p 00000000 00:00 0 \n"
               "00400000-00410000 rw-p 00000000 00:00 0 \n"
               "00410000-00500000 ---p 00000000 00:00 0 \n"
               "00600000-00601000 rw-p 00000000 00:00 0 [stack]\n");
    // Each stack's top pages resident: one of the waiter's, three of the spinner's.
    tree.write("proc/4300/pagemap", pagemap(0x601, {{0x210, kPresent},
                                                    {0x221, kPresent},
                                                    {0x220, kPresent},
                                                    {0x21f, kPresent},
                                                    {0x600, kPresent}}));
    tree.write("proc/4300/task/4300/stat", "4300 (app) S 1\n");
    tree.write("proc/4300/task/4300/syscall", "-1 0x600800 0x100100\n");
    tree.write("proc/4300/task/4301/stat", "4301 (waiter) S 1\n");
    tree.write("proc/4300/task/4301/syscall", "202 0x1 0x2 0x3 0x4 0x5 0x6 0x210800 0x100200\n");
    tree.write("proc/4300/task/4302/stat", "4302 (spinner) R 1\n");
    tree.write("proc/4300/task/4302/syscall", "running\n");

    const auto s =
        tp::inspect_thread_stacks(tp::ProcFs({tree.root() / "proc", tree.root() / "sys"}), 4300);
    REQUIRE(s.threads.size() == 3);
    const auto& waiter = thread(s, 4301);
    CHECK(waiter.located_by == "stack pointer (syscall)");
    CHECK(waiter.start == 0x201000);
    const auto& spinner = thread(s, 4302);
    REQUIRE(spinner.located());
    CHECK_THAT(spinner.located_by, Catch::StartsWith("mapping layout"));
    CHECK(spinner.start == 0x212000);  // not the arena at 0x400000
    CHECK(spinner.guard == "PROT_NONE mapping below");
    CHECK(spinner.guard_kib == 4);
    CHECK(spinner.reserved_kib == 64);
    CHECK(spinner.resident_kib == 12);
    CHECK(spinner.high_water_kib == 12);
}
