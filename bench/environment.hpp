// What every bench measurement needs: where the programs are, where their result files go, a
// progress line, and a fresh fibserver per run (so no run inherits another's threads, heap or
// TIME_WAIT sockets).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "embedded_server.hpp"
#include "progress.hpp"

namespace tp::bench {

struct Environment {
    std::filesystem::path bin_dir;  // fibserver, the probes and the bare references
    std::filesystem::path scratch;  // each run's own results file, kept for a second look
    ProgressFn progress;

    std::string program(const std::string& name) const { return (bin_dir / name).string(); }
};

// fibserver on an ephemeral loopback port, with room for `connections` and no idle timeout
// (FibserverLaunch), the thread stack given for the models that make threads.
EmbeddedServer start_server(const Environment& env, const std::string& model,
                            std::uint64_t connections,
                            std::optional<std::uint64_t> stack = std::nullopt);

std::string endpoint_text(const Endpoint& e);
// A whole results file, or throws std::runtime_error naming it.
nlohmann::json read_json_file(const std::filesystem::path& path);
// The one JSON line a bare reference prints.
nlohmann::json parse_json_line(const std::string& text, const std::string& program);
// TcpExt ListenOverflows from /proc/net/netstat: connections the kernel turned away because an
// accept queue was full (the client then waits out TCP's retransmission timeout). System-wide:
// a delta over a run says whether any run on the machine met a full queue meanwhile.
std::optional<std::uint64_t> listen_overflows();
// "100ms": durations handed to the probes' command lines.
std::string duration_arg(std::chrono::nanoseconds d);

}  // namespace tp::bench
