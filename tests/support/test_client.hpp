// What the loopback tests of fibserver share: starting it from build/bin, a client connection
// whose every read has a deadline, and the few /proc figures the tests check the server by.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "embedded_server.hpp"
#include "net.hpp"

namespace tp::test {

using Clock = std::chrono::steady_clock;

// build/bin/fibserver.
std::string fibserver_path();
// fibserver on an ephemeral loopback port with these options.
EmbeddedServer start_fibserver(std::vector<std::string> args);

// One client connection with bounded reads.
class Client {
  public:
    explicit Client(const Endpoint& to);

    int fd() const { return fd_.get(); }
    // Sends everything; false with errno set if it could not. It asserts nothing itself: clients
    // run in threads of their own, and Catch2's assertions are only safe in the test's thread
    // (ask() then returns what arrived, which the test's own check rejects).
    bool send(std::string_view bytes);

    // Whatever arrives before the deadline: nullopt if nothing did, "" at end of stream.
    std::optional<std::string> read_within(Clock::time_point deadline);
    std::optional<std::string> read_within(std::chrono::milliseconds timeout);
    // Reads until `lines` newlines have arrived, the server closes, or `timeout` passes.
    std::string read_lines(long lines = 1,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
    std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        return read_lines(1, timeout);
    }

    std::string ask(std::string_view request, int lines = 1);
    std::string ask(std::string_view request, std::chrono::milliseconds timeout);

    // True once the server has closed the connection (within the timeout).
    bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void close() { fd_.reset(); }

  private:
    Fd fd_;
};

// CPU time the process has used, user and system, in seconds (/proc/PID/stat).
double cpu_seconds(pid_t pid);
// A /proc/PID/status field's number ("VmRSS: 1234 kB" -> 1234; "Threads: 1" -> 1); -1 if absent.
long status_value(pid_t pid, const std::string& field);

}  // namespace tp::test
