// Results files the probes write during a test: where they go, how they are read back, and
// the common case of running a probe for its JSON.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_program.hpp"

namespace tp::test {

// A path in the temporary folder unique to this test process: "<test>-test-<pid>-<name>".
std::filesystem::path temp_path(const std::string& test, const std::string& name);

// The file as JSON; the test fails if it cannot be opened.
nlohmann::json read_json(const std::filesystem::path& path);

// Runs `program` with `args` plus --json FILE --quiet, requires `expected_exit`, and returns
// the results, removing the file.
nlohmann::json run_for_json(const std::string& program, std::vector<std::string> args,
                            int expected_exit = 0, const RunOptions& options = {});

}  // namespace tp::test
