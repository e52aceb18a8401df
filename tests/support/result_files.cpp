#include "result_files.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

namespace tp::test {

std::filesystem::path temp_path(const std::string& test, const std::string& name) {
    return std::filesystem::temp_directory_path() /
           (test + "-test-" + std::to_string(::getpid()) + "-" + name);
}

nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

nlohmann::json run_for_json(const std::string& program, std::vector<std::string> args,
                            int expected_exit, const RunOptions& options) {
    const auto path = temp_path(program, "results.json");
    args.insert(args.end(), {"--json", path.string(), "--quiet"});
    const auto run = run_program(program, args, options);
    INFO(run.err);
    REQUIRE(run.exit_code == expected_exit);
    nlohmann::json results = read_json(path);
    std::filesystem::remove(path);
    return results;
}

}  // namespace tp::test
