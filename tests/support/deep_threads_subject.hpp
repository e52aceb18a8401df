// threadprobe --pid's test subject running: deep_threads, whose threads recurse to known depths
// and block there until it is destroyed (its stdin closes); what they reached is its first line.
#pragma once

#include <sys/types.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "run_program.hpp"
#include "subprocess.hpp"

namespace tp::test {

struct DeepThreads {
    Subprocess process;
    nlohmann::json ready;  // {"pid", "threads": [{"tid", "depth_kib", "lowest"}]}

    // `stack`: a pthread stack size in bytes or "default"; `depths`: KiB per thread, "8,24".
    DeepThreads(const std::string& stack, const std::string& depths)
        : process({program("deep_threads"), stack, depths}, [] {
              SubprocessOptions o;
              o.stdin_pipe = true;
              return o;
          }()) {
        const auto line = process.read_line(std::chrono::seconds(20));
        REQUIRE(line);
        ready = nlohmann::json::parse(*line);
    }
    pid_t pid() const { return ready["pid"].get<pid_t>(); }
};

}  // namespace tp::test
