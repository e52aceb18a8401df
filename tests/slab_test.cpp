#include "slab.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

const char* const kHeader =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : "
    "tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> "
    "<sharedavail>\n";

std::string slabinfo(std::uint64_t tcp, std::uint64_t filp, std::uint64_t tasks) {
    return std::string(kHeader) + "TCP               " + std::to_string(tcp) +
           "     26   2368   13    8 : tunables    0    0    0 : slabdata      2      2      0\n"
           "filp              " +
           std::to_string(filp) +
           "    315    192   21    1 : tunables    0    0    0 : slabdata     15     15      0\n"
           "task_struct       " +
           std::to_string(tasks) +
           "    100   6720    4    8 : tunables    0    0    0 : slabdata     25     25      0\n"
           "kmalloc-8        1024   1024      8  512    1 : tunables    0    0    0 : slabdata     "
           " "
           "2      2      0\n";
}

}  // namespace

TEST_CASE("slabinfo: active objects times object size, per cache", "[slab]") {
    const auto s = tp::parse_slabinfo(slabinfo(26, 315, 100));
    REQUIRE(s);
    CHECK(s->source == tp::SlabSource::slabinfo);
    CHECK(s->bytes.at("TCP") == 26 * 2368);
    CHECK(s->bytes.at("filp") == 315 * 192);
    CHECK(s->bytes.at("kmalloc-8") == 8192);
    CHECK(s->bytes.size() == 4);
}

TEST_CASE("slabinfo: another version or a malformed row is not read as figures", "[slab]") {
    CHECK_FALSE(tp::parse_slabinfo("slabinfo - version: 1.1\nTCP 1 1 2368 1 1\n"));
    CHECK_FALSE(tp::parse_slabinfo("TCP 1 1 2368 13 8\n"));  // no version line
    CHECK_FALSE(tp::parse_slabinfo(std::string(kHeader) + "TCP 1 x 2368\n"));
    CHECK_FALSE(tp::parse_slabinfo(std::string(kHeader) + "TCP 12\n"));
    CHECK_FALSE(tp::parse_slabinfo(""));
}

TEST_CASE("socket memory per end counts the socket caches and lists the rest", "[slab]") {
    // 100 connections, both ends here: 200 tcp_socks and 200 files; 100 threads came with them.
    const auto before = *tp::parse_slabinfo(slabinfo(26, 315, 100));
    const auto after = *tp::parse_slabinfo(slabinfo(226, 515, 200));
    const auto cost = tp::socket_kernel_cost(before, after, 200);
    REQUIRE(cost);
    CHECK(cost->ends == 200);
    CHECK(cost->kib_per_end == Approx((2368.0 + 192.0) / 1024));
    CHECK(cost->other_kib_per_end == Approx(6720.0 * 100 / 200 / 1024));
    REQUIRE(cost->caches.size() == 3);             // kmalloc-8 did not move
    CHECK(cost->caches[0].name == "task_struct");  // largest first, listed but not counted
    CHECK(cost->caches[0].kib_per_end == Approx(6720.0 * 100 / 200 / 1024));
    CHECK_FALSE(cost->caches[0].counted);
    CHECK(cost->caches[1].name == "TCP");
    CHECK(cost->caches[1].counted);
    CHECK(cost->caches[2].name == "filp");

    // Read back as written.
    const nlohmann::json again = tp::to_json(*cost);
    tp::SocketKernelCost read;
    from_json(again, read);
    CHECK(tp::to_json(read) == again);
}

TEST_CASE("socket memory: nothing to divide by, or readings from two sources, give none",
          "[slab]") {
    const auto slab = *tp::parse_slabinfo(slabinfo(26, 315, 100));
    CHECK_FALSE(tp::socket_kernel_cost(slab, slab, 0));
    const tp::SlabSnapshot meminfo{tp::SlabSource::meminfo, {{"Slab", 1 << 20}}};
    CHECK_FALSE(tp::socket_kernel_cost(slab, meminfo, 10));
}

TEST_CASE("without slabinfo the meminfo Slab total stands in, and says so", "[slab]") {
    const auto root = std::filesystem::temp_directory_path() / "tp-slab-test";
    std::filesystem::create_directories(root);
    std::ofstream(root / "meminfo") << "MemTotal:  1000 kB\nSlab:   2048 kB\nSReclaimable: 1 kB\n";
    const tp::ProcFs fs(tp::SystemPaths{root, root});
    const auto before = tp::read_slab(fs);
    REQUIRE(before);
    CHECK(before->source == tp::SlabSource::meminfo);
    CHECK(before->bytes.at("Slab") == 2048 * 1024);
    std::ofstream(root / "meminfo") << "MemTotal:  1000 kB\nSlab:   2848 kB\n";
    const auto cost = tp::socket_kernel_cost(*before, *tp::read_slab(fs), 100);
    REQUIRE(cost);
    CHECK(cost->kib_per_end == Approx(8.0));
    CHECK(std::string(tp::slab_source_name(cost->source)) == "/proc/meminfo Slab");

    std::ofstream(root / "slabinfo") << slabinfo(26, 315, 100);
    const auto from_slabinfo = tp::read_slab(fs);
    REQUIRE(from_slabinfo);
    CHECK(from_slabinfo->source == tp::SlabSource::slabinfo);
    std::filesystem::remove_all(root);
}
