#include "request_clients.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <numeric>

#include "statistics.hpp"

namespace tp {

RequestClient::RequestClient(const Endpoint& server, std::chrono::seconds reply_timeout)
    : fd_(connect_tcp(server)) {
    const timeval timeout{static_cast<time_t>(reply_timeout.count()), 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

std::optional<std::string> RequestClient::ask(unsigned n, std::string& error) {
    char request[16];
    auto end = std::to_chars(request, request + sizeof request - 1, n).ptr;
    *end++ = '\n';
    return send_and_read(std::string_view(request, static_cast<std::size_t>(end - request)), error);
}

std::optional<std::string> RequestClient::ask_line(std::string_view line, std::string& error) {
    return send_and_read(std::string(line) + '\n', error);
}

std::optional<std::string> RequestClient::send_and_read(std::string_view request,
                                                        std::string& error) {
    if (!write_all(fd_.get(), request.data(), request.size())) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    for (;;) {
        if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
            std::string line = pending_.substr(0, nl);
            pending_.erase(0, nl + 1);
            return line;
        }
        char buf[256];
        const ssize_t got = read_some(fd_.get(), buf, sizeof buf);
        if (got <= 0) {
            error = got == 0          ? "the server closed the connection"
                    : errno == EAGAIN ? "no reply within the timeout"
                                      : std::strerror(errno);
            return std::nullopt;
        }
        pending_.append(buf, static_cast<std::size_t>(got));
        if (pending_.size() > 4096) {
            error = "reply line longer than 4 KiB";
            return std::nullopt;
        }
    }
}

void RequestClient::shut_down() {
    ::shutdown(fd_.get(), SHUT_RDWR);
}

LatencyStats latency_stats(std::vector<double> ms) {
    LatencyStats s;
    s.requests = ms.size();
    if (ms.empty()) return s;
    s.p50_ms = percentile(ms, 50);
    s.p90_ms = percentile(ms, 90);
    s.p99_ms = percentile(ms, 99);
    s.max_ms = *std::max_element(ms.begin(), ms.end());
    s.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
    return s;
}

}  // namespace tp
