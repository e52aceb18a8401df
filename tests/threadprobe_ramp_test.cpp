// threadprobe on the shared connection ramp: the count the sampler records comes from the ramp,
// and the samples it writes read back into the structs they were written from.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "result_files.hpp"
#include "sampler.hpp"

namespace {

using nlohmann::json;

}  // namespace

TEST_CASE("threadprobe's samples count the connections the ramp holds", "[threadprobe]") {
    constexpr std::uint64_t kThreads = 150;
    const json r = tp::test::run_for_json(
        "threadprobe", {"--threads=150", "--stack=64k", "--hold=300ms", "--interval=50ms"});
    REQUIRE(r["summary"]["connections"] == kThreads);
    std::uint64_t previous = 0;
    bool ramp_done = false;
    for (const json& j : r["samples"]) {
        const auto s = j.get<tp::Sample>();
        INFO(j.dump());
        CHECK_FALSE(s.failed());
        switch (s.phase) {
            case tp::Phase::baseline:
                CHECK(s.connections == 0);
                break;
            case tp::Phase::ramp:
                // Rising, never past what was asked for.
                CHECK(s.connections >= previous);
                CHECK(s.connections <= kThreads);
                break;
            case tp::Phase::hold:
                ramp_done = true;
                CHECK(s.connections == kThreads);
                break;
            case tp::Phase::teardown:
                // The sampling thread may catch the release under way; never more than were held.
                CHECK(s.connections <= kThreads);
                break;
        }
        if (s.phase != tp::Phase::teardown) previous = s.connections;
    }
    CHECK(ramp_done);
    // The last sample is taken once the threads have been released and joined.
    REQUIRE_FALSE(r["samples"].empty());
    const auto last = r["samples"].back().get<tp::Sample>();
    CHECK(last.phase == tp::Phase::teardown);
    CHECK(last.connections == 0);
    CHECK(r["summary"]["sampler"]["failed_samples"] == 0);
}
