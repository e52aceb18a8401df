// The fuzz targets' corpus replayed in the plain build: every seed and every reproducer a fuzzing
// run found goes through the same checks as under libFuzzer (tests/fuzz/fuzz_entries.cpp), so
// what was fixed stays fixed without clang or scripts/fuzz.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_entries.hpp"
#include "net.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every fuzz corpus file passes its target's checks", "[fuzz]") {
    for (const tp::fuzz::Target& target : tp::fuzz::kTargets) {
        const fs::path folder = fs::path(TP_FUZZ_CORPUS_DIR) / target.name;
        INFO("corpus " << folder.string());
        REQUIRE(fs::is_directory(folder));
        std::size_t replayed = 0;
        for (const auto& entry : fs::directory_iterator(folder)) {
            if (!entry.is_regular_file()) continue;
            const std::vector<std::uint8_t> input = read_bytes(entry.path());
            INFO("input " << entry.path().filename().string());
            CHECK_NOTHROW(target.run(input));
            ++replayed;
        }
        CHECK(replayed > 0);
    }
}

TEST_CASE("an endpoint's host is the address it connects to, NUL bytes and all", "[fuzz]") {
    // Found by fuzz_endpoint: inet_pton stopped at the NUL and took the host for 127.0.0.1.
    using namespace std::string_literals;
    CHECK_THROWS_AS(tp::parse_endpoint("127.0.0.1\0junk:80"s), std::invalid_argument);
    CHECK(tp::parse_endpoint("127.0.0.1:80").host == "127.0.0.1");
}
