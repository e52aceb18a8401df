#include "procfs.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "temp_tree.hpp"

namespace {

constexpr std::uint64_t kMapBytes = 64ull << 20;
constexpr std::uint64_t kMapKiB = kMapBytes / 1024;

}  // namespace

TEST_CASE("mapping memory raises VmSize by at least its size, touching it raises VmRSS",
          "[procfs]") {
    const tp::ProcFs fs;
    const auto before = fs.process(::getpid());
    REQUIRE(before);

    void* region =
        ::mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(region != MAP_FAILED);
    const auto mapped = fs.process(::getpid());
    REQUIRE(mapped);
    CHECK(mapped->vsz_kib >= before->vsz_kib + kMapKiB);
    // Mapped but untouched: the kernel has backed none of it yet (demand paging).
    CHECK(mapped->rss_anon_kib < before->rss_anon_kib + kMapKiB / 4);

    std::memset(region, 1, kMapBytes);
    const auto touched = fs.process(::getpid());
    REQUIRE(touched);
    CHECK(touched->rss_kib >= mapped->rss_kib + kMapKiB * 9 / 10);
    CHECK(touched->rss_anon_kib >= mapped->rss_anon_kib + kMapKiB * 9 / 10);
    ::munmap(region, kMapBytes);

    const auto after = fs.process(::getpid());
    REQUIRE(after);
    CHECK(after->vsz_kib < touched->vsz_kib);
}

TEST_CASE("the mapping count grows with a mapping", "[procfs]") {
    const tp::ProcFs fs;
    const auto before = fs.map_count(::getpid());
    // PROT_NONE between two writable pages keeps the kernel from merging it with neighbours.
    void* region = ::mmap(nullptr, 3 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(region != MAP_FAILED);
    ::mprotect(static_cast<char*>(region) + 4096, 4096, PROT_READ);
    const auto after = fs.map_count(::getpid());
    ::munmap(region, 3 * 4096);
    REQUIRE(before);
    REQUIRE(after);
    CHECK(*after >= *before + 3);
}

TEST_CASE("a process that does not exist reads as absent, not as zero", "[procfs]") {
    const tp::ProcFs fs;
    // pid_max is at most 2^22 on Linux: this pid cannot exist.
    CHECK_FALSE(fs.process(1 << 23).has_value());
    CHECK_FALSE(fs.map_count(1 << 23).has_value());
}

TEST_CASE("status and meminfo parse the kernel's format", "[procfs]") {
    const std::string status =
        "Name:\tthreadprobe\nVmPeak:\t    3776 kB\nVmSize:\t    3760 kB\nVmRSS:\t    1892 kB\n"
        "RssAnon:\t     148 kB\nVmPTE:\t      48 kB\nThreads:\t1001\n";
    const auto m = tp::parse_process_status(status);
    REQUIRE(m);
    CHECK(m->vsz_kib == 3760);
    CHECK(m->rss_kib == 1892);
    CHECK(m->rss_anon_kib == 148);
    CHECK(m->pte_kib == 48);
    CHECK(m->threads == 1001);
    // A zombie keeps its Threads line but has no memory lines.
    CHECK_FALSE(tp::parse_process_status("Name:\tz\nState:\tZ (zombie)\nThreads:\t1\n"));

    const auto info = tp::parse_meminfo(
        "MemTotal:       24684092 kB\nMemFree:  1 kB\nMemAvailable:   24326984 kB\n"
        "KernelStack:        1316 kB\nCommitLimit:    12342044 kB\nCommitted_AS:      50044 kB\n");
    REQUIRE(info);
    CHECK(info->mem_total_kib == 24684092);
    CHECK(info->mem_available_kib == 24326984);
    CHECK(info->kernel_stack_kib == 1316);
    CHECK(info->commit_limit_kib == 12342044);
    CHECK(info->committed_as_kib == 50044);
}

TEST_CASE("a meminfo that cannot be read is absent, not an exception", "[procfs]") {
    // A fixture machine whose /proc has everything but meminfo, as a process out of
    // descriptors sees it; and one whose meminfo has no MemTotal line.
    const tp::test::TempTree tree;
    tree.write("proc/loadavg", "0.00 0.01 0.05 1/81 4242\n");
    const tp::ProcFs fs({tree.root() / "proc", tree.root() / "sys"});
    CHECK_FALSE(fs.system().has_value());
    CHECK(fs.tasks() == 81u);
    tree.write("proc/meminfo", "MemFree:  1 kB\n");
    CHECK_FALSE(fs.system().has_value());
}

TEST_CASE("this machine's own counters are read", "[procfs]") {
    const tp::ProcFs fs;
    const auto sys = fs.system();
    REQUIRE(sys);
    CHECK(sys->mem_total_kib > 0);
    CHECK(sys->mem_available_kib <= sys->mem_total_kib);
    CHECK(sys->kernel_stack_kib > 0);
    const auto tasks = fs.tasks();
    REQUIRE(tasks);
    CHECK(*tasks >= 1);
    const auto pid_max = fs.sysctl("kernel.pid_max");
    REQUIRE(pid_max);
    CHECK(*pid_max >= 301);  // the kernel's own floor for pid_max
}
