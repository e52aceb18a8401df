#include "test_client.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace tp::test {

std::string fibserver_path() {
    return std::string(TP_BIN_DIR) + "/fibserver";
}

EmbeddedServer start_fibserver(std::vector<std::string> args) {
    args.insert(args.begin(), {"--port", "0"});
    return EmbeddedServer::start(fibserver_path(), args);
}

Client::Client(const Endpoint& to) : fd_(connect_tcp(to)) {}

bool Client::send(std::string_view bytes) {
    return write_all(fd_.get(), bytes);
}

std::optional<std::string> Client::read_within(Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{fd_.get(), POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return std::nullopt;
        char buf[65536];
        const ssize_t n = read_some(fd_.get(), buf, sizeof buf);
        if (n < 0 && errno == EAGAIN) continue;
        if (n < 0) return std::string();  // reset by the peer: as good as closed here
        return std::string(buf, static_cast<std::size_t>(n));
    }
}

std::optional<std::string> Client::read_within(std::chrono::milliseconds timeout) {
    return read_within(Clock::now() + timeout);
}

std::string Client::read_lines(long lines, std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = Clock::now() + timeout;
    while (std::count(got.begin(), got.end(), '\n') < lines) {
        const auto chunk = read_within(deadline);
        if (!chunk || chunk->empty()) break;
        got += *chunk;
    }
    return got;
}

std::string Client::ask(std::string_view request, int lines) {
    send(request);
    return read_lines(lines);
}

std::string Client::ask(std::string_view request, std::chrono::milliseconds timeout) {
    send(request);
    return read_lines(1, timeout);
}

bool Client::closed_by_server(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 1000; ++i) {
        const auto chunk = read_within(deadline);
        if (!chunk) return false;
        if (chunk->empty()) return true;
    }
    return false;
}

double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 13; ++i) rest >> field;  // state .. cmajflt
    double utime = 0, stime = 0;
    rest >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long status_value(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

}  // namespace tp::test
