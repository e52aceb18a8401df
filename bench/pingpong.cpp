// pingpong: the bare reference for rateprobe. Two processes on one loopback TCP connection, both
// blocking: the client sends 1 byte and waits for 2, the server reads 1 and sends 2. Nothing is
// parsed, formatted or counted but the round trips; that is the most requests per second one
// connection can carry on this machine, the ceiling rateprobe's figures are divided by.
//
// Two processes rather than two threads, as rateprobe and its fibserver are: a wake-up that
// crosses processes switches address spaces too. It prints one JSON line:
// {"rps": round trips per second after the warm-up, "round_trips", "seconds"}.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <system_error>

#include "cli.hpp"
#include "net.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// rateprobe's baseline leaves out its first reading (100 ms) as warm-up; so does this.
constexpr auto kWarmUp = std::chrono::milliseconds(100);

void no_delay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

[[noreturn]] void serve(int listen_fd) {
    const int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) ::_exit(1);
    no_delay(fd);
    char request;
    const char reply[2] = {'1', '\n'};
    while (::recv(fd, &request, 1, 0) == 1)
        if (::send(fd, reply, sizeof reply, MSG_NOSIGNAL) != sizeof reply) break;
    ::_exit(0);
}

// One round trip; false when the connection failed.
bool round_trip(int fd) {
    const char request = '1';
    if (::send(fd, &request, 1, MSG_NOSIGNAL) != 1) return false;
    char reply[2];
    std::size_t got = 0;
    while (got < sizeof reply) {
        const ssize_t n = ::recv(fd, reply + got, sizeof reply - got, 0);
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    tp::Duration duration{std::chrono::seconds(2)};
    po::options_description options("options");
    options.add_options()("duration,d", po::value(&duration)->value_name("DURATION"),
                          "how long to measure, warm-up (100ms) included (default 2s)");
    po::variables_map vm;
    if (const auto done =
            tp::parse_command_line("pingpong", "[--duration D]", options, argc, argv, vm))
        return *done;
    if (duration.value <= kWarmUp) throw tp::UsageError("option '--duration': above 100ms");

    tp::Fd listener = tp::listen_tcp("127.0.0.1", 0, 1);
    const tp::Endpoint endpoint{"127.0.0.1", tp::local_port(listener.get())};
    const pid_t server = ::fork();
    if (server < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (server == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        serve(listener.get());
    }
    listener.reset();
    tp::Fd client = tp::connect_tcp(endpoint);
    no_delay(client.get());

    const auto start = Clock::now();
    const auto end = start + duration.value;
    bool ok = true;
    while (ok && Clock::now() < start + kWarmUp) ok = round_trip(client.get());
    const auto measured_from = Clock::now();
    std::uint64_t round_trips = 0;
    // The clock is read every 64 round trips, so reading it costs the loop nothing measurable.
    while (ok) {
        for (int i = 0; i < 64 && ok; ++i, ++round_trips) ok = round_trip(client.get());
        if (Clock::now() >= end) break;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - measured_from).count();
    client.reset();
    int status = 0;
    ::waitpid(server, &status, 0);
    if (!ok) throw std::runtime_error("the ping-pong connection failed");
    fmt::print("{{\"rps\": {:.1f}, \"round_trips\": {}, \"seconds\": {:.4f}}}\n",
               static_cast<double>(round_trips) / seconds, round_trips, seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("pingpong", [&] { return run(argc, argv); });
}
