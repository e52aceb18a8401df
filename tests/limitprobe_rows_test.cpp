// limitprobe's rows as the table and the JSON show them, without running anything.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "limitprobe.hpp"

namespace {

tp::LimitProbeResult one_row(tp::LimitProbeRow row) {
    tp::LimitProbeResult r;
    r.config.stacks = {64 * 1024};
    r.rows.push_back(std::move(row));
    return r;
}

}  // namespace

TEST_CASE("a per-thread figure that was not measured says so, not 0", "[limitprobe]") {
    tp::LimitProbeRow row;
    row.stack_bytes = 64 * 1024;
    row.threads_reached = 85;
    row.stopped_by = tp::RampStop::descriptor_budget;
    row.rss_per_thread_kib = 8.4;  // the one figure measured
    row.diagnosis.binding_limit = "RLIMIT_NOFILE";
    const auto r = one_row(row);
    const std::string table = tp::to_table(r);
    INFO(table);
    CHECK_THAT(table, Catch::Contains("not measured") && Catch::Contains("8.4 KiB") &&
                          Catch::Contains("out of descriptors"));
    CHECK_THAT(table, !Catch::Contains(" 0.0 KiB"));
    const nlohmann::json j = tp::to_json(r)["results"][0];
    CHECK(j["vsz_per_thread_kib"].is_null());
    CHECK(j["rss_per_thread_kib"] == 8.4);
    CHECK(j["stopped_by"] == "out of descriptors");
}

TEST_CASE("what ended an attempt is labelled as the results have always said", "[limitprobe]") {
    tp::LimitProbeRow row;
    CHECK(std::string(tp::stopped_by_label(row)) == "child died");
    const std::vector<std::pair<tp::RampStop, std::string>> labels = {
        {tp::RampStop::target_reached, "max reached"},
        {tp::RampStop::pthread_create, "pthread_create failed"},
        {tp::RampStop::connect, "connect failed"},
        {tp::RampStop::request, "request failed"},
        {tp::RampStop::reply, "reply failed"},
        {tp::RampStop::refused, "refused by server"},
        {tp::RampStop::memory_floor, "memory floor"},
        {tp::RampStop::time_limit, "time limit"},
        {tp::RampStop::interrupted, "interrupted"},
    };
    for (const auto& [stop, label] : labels) {
        row.stopped_by = stop;
        CHECK(tp::stopped_by_label(row) == label);
        CHECK(tp::ramp_stop_from_label(label) == stop);
    }
    CHECK_FALSE(tp::ramp_stop_from_label("child died"));
}
