// hold_connections: the client side of scripts/bench's scale measurement. One thread opens N
// loopback connections one after another, asks fib(1) on each (so a connection counts only once
// the server serves it, not while it waits in the listen queue), and holds them all until its
// standard input closes. A thread per connection would spend pids the server's threads need:
// 20,000 connections against the threads model would be 40,000 tasks, past pid_max.
//
// A destination accepts at most one connection per source address and port, so one source
// address gives at most the ephemeral port range (28,232 ports with Linux's default). With
// --sources N the connections go round 127.0.0.1 to 127.0.0.N (all of 127.0.0.0/8 is loopback).
//
// It stops opening at the first connection the server does not serve: no answer within
// --reply-timeout (the server is out of descriptors and has stopped accepting), a refusal
// ("error: ..."), or a socket or connect error of its own. Once it holds what it got it prints
// one JSON line: {"opened", "served", "stopped_by", "open_s"}; the server's side says which limit
// fired.
#include <fmt/format.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "net.hpp"

namespace {

// "" when the connection was served; otherwise why not.
std::string ask_fib_1(int fd, std::chrono::milliseconds reply_timeout) {
    if (!tp::write_all(fd, "1\n")) return fmt::format("send: {}", std::strerror(errno));
    char reply[128];
    std::size_t got = 0;
    while (got == 0 || reply[got - 1] != '\n') {
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(reply_timeout.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return "unanswered";
        const ssize_t n = tp::read_some(fd, reply + got, sizeof reply - 1 - got);
        if (n < 0) return fmt::format("receive: {}", std::strerror(errno));
        if (n == 0) return "closed by the server";
        got += static_cast<std::size_t>(n);
        if (got == sizeof reply - 1) break;
    }
    reply[got] = '\0';
    if (std::strcmp(reply, "1\n") == 0) return "";
    if (got > 0 && reply[got - 1] == '\n') reply[got - 1] = '\0';
    return fmt::format("refused: {}", reply);
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    std::string connect;
    tp::Count connections{1000};
    tp::Duration reply_timeout{std::chrono::seconds(2)};
    tp::Count sources{1};
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("connect", po::value(&connect)->required()->value_name("HOST:PORT"), "the fibserver to connect to")
        ("connections,n", po::value(&connections)->value_name("N"), "connections to open and hold (default 1000)")
        ("reply-timeout", po::value(&reply_timeout)->value_name("DURATION"), "a connection not served within this ends the ramp (default 2s)")
        ("sources", po::value(&sources)->value_name("N"), "source addresses 127.0.0.1 to 127.0.0.N, taken in turn (default 1)");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("hold_connections",
                                                 "--connect HOST:PORT --connections N [options]",
                                                 options, argc, argv, vm))
        return *done;
    tp::require_range("connections", connections.value, 1, 10'000'000);
    tp::require_range("sources", sources.value, 1, 254);
    std::vector<std::string> source_hosts;
    for (std::uint64_t i = 1; i <= sources.value; ++i)
        source_hosts.push_back(fmt::format("127.0.0.{}", i));
    const tp::Endpoint endpoint = tp::parse_endpoint(connect);
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(reply_timeout.value);

    // A descriptor per connection: the soft limit is raised as far as the hard one allows, as
    // any server holding many connections does; the server's limit is the one measured.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
    }

    const auto started = std::chrono::steady_clock::now();
    std::vector<tp::Fd> held;
    held.reserve(connections.value);
    std::uint64_t opened = 0;
    std::string stopped_by = "done";
    while (held.size() < connections.value) {
        const std::string& source = source_hosts[held.size() % source_hosts.size()];
        tp::Fd fd(tp::try_connect_tcp(endpoint, &source));
        if (!fd) {
            stopped_by = fmt::format("connect from {}: {}", source, std::strerror(errno));
            break;
        }
        ++opened;
        if (std::string why = ask_fib_1(fd.get(), timeout); !why.empty()) {
            stopped_by = std::move(why);
            break;
        }
        held.push_back(std::move(fd));
    }
    const auto opened_at = std::chrono::steady_clock::now();
    const nlohmann::json report = {
        {"opened", opened},
        {"served", held.size()},
        {"stopped_by", stopped_by},
        {"open_s", std::chrono::duration<double>(opened_at - started).count()}};
    fmt::print("{}\n", report.dump());
    std::fflush(stdout);

    // Held until whoever started this closes our standard input.
    char discard[64];
    while (tp::read_some(STDIN_FILENO, discard, sizeof discard) > 0) {
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("hold_connections", [&] { return run(argc, argv); });
}
