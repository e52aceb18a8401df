#include "report_input.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <string>

namespace tp::test {

tp::report::Results report_input(const std::string& name, const nlohmann::json& results) {
    return tp::report::Results("fresh", {{name, results}}, {});
}

void check_context_as_the_report_reads_it(const tp::report::Results& r, const std::string& name) {
    INFO(name << ".json context");
    for (const char* key :
         {"/version", "/context/time", "/context/host", "/context/kernel", "/context/glibc",
          "/context/topology/summary", "/context/topology/cpu_model"})
        CHECK_FALSE(r.text(name, key).empty());
    CHECK(r.number(name, "/context/page_size") == static_cast<double>(::sysconf(_SC_PAGESIZE)));
    const double pus = r.number(name, "/context/topology/pus");
    CHECK(pus >= 1);
    CHECK(pus <= static_cast<double>(::sysconf(_SC_NPROCESSORS_CONF)));

    const auto& limits = r.at(name, "/context/limits");
    REQUIRE(limits.is_array());
    bool commit_limit = false;
    for (std::size_t i = 0; i < limits.size(); ++i) {
        const std::string at = fmt::format("/context/limits/{}", i);
        const std::string limit = r.text(name, at + "/limit");
        INFO(limit);
        CHECK_FALSE(r.text(name, at + "/unit").empty());
        CHECK_FALSE(r.text(name, at + "/source").empty());
        const double current = r.number(name, at + "/current");
        CHECK(current >= 0);
        const auto ceiling = r.number_or_null(name, at + "/ceiling");
        // The probe is running, so no limit it is held to can have been passed.
        if (ceiling && r.flag(name, at + "/enforced")) CHECK(current <= *ceiling);
        if (limit == "commit limit") {
            commit_limit = true;
            r.text_or_null(name, at + "/note");  // the swap claim quotes it
        }
    }
    CHECK(commit_limit);
}

}  // namespace tp::test
