// What latencyprobe and rateprobe share: a blocking client that asks one server for fib(n) over
// one connection, and the percentiles of the latencies it times. The server they ask is in
// target_server.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net.hpp"

namespace tp {

// One connection, one request at a time, as the article's perf1.py and perf2.py do.
class RequestClient {
  public:
    // Throws std::system_error if it cannot connect.
    RequestClient(const Endpoint& server, std::chrono::seconds reply_timeout);

    // Sends "n\n" and reads one reply line. The reply without its newline, or std::nullopt with
    // `error` set if the connection failed or timed out.
    std::optional<std::string> ask(unsigned n, std::string& error);
    // The same for any request line (given without its newline), e.g. "spam 1000".
    std::optional<std::string> ask_line(std::string_view line, std::string& error);
    // Ends the connection under a thread blocked in ask(), which then fails; safe from any
    // thread while another uses the client.
    void shut_down();

  private:
    std::optional<std::string> send_and_read(std::string_view request, std::string& error);

    Fd fd_;
    std::string pending_;  // bytes after the last reply line, should a server send more
};

// Percentiles of a sample, nearest-rank; all zero for an empty sample.
struct LatencyStats {
    std::uint64_t requests = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
};
LatencyStats latency_stats(std::vector<double> ms);

}  // namespace tp
