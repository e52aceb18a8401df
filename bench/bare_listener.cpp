// bare_listener: the server both sides of scripts/bench's spawn figure connect to. Its one job
// is never to be what the figure measures.
//
// Ten thousand threads connecting at once outrun any server that must run to accept them, and
// the kernel's accept queue holds at most net.core.somaxconn (4096 here) per socket: past that a
// SYN is dropped and the client retries it after TCP's 1 s timeout (3 s for a second drop). The
// spawn time then jumps in whole seconds, whichever program is measured. So this listener opens
// --listeners sockets on one port with SO_REUSEPORT, the kernel spreading connections over
// their queues, enough room for every thread: each connect completes in the kernel whether or
// not this process has run yet. One epoll thread then accepts, answers each "n\n" with fib(n)
// (the answer threadprobe checks) and holds the connection until the client closes it.
//
// It prints "bare_listener: listening on 127.0.0.1:PORT pid=PID" when ready and exits when its
// standard input closes.
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <system_error>
#include <vector>

#include "cli.hpp"
#include "fib.hpp"
#include "net.hpp"

namespace {

tp::Fd reuseport_listener(std::uint16_t port, int backlog) {
    tp::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw std::system_error(errno, std::generic_category(), "bind 127.0.0.1");
    if (::listen(fd.get(), backlog) != 0)
        throw std::system_error(errno, std::generic_category(), "listen");
    return fd;
}

void watch(int epoll, int fd, std::uint64_t tag) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = tag;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &e) != 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
}

// One read, one reply: requests here are a few bytes, sent whole by the probes.
void answer(int fd) {
    char request[64];
    const ssize_t n = ::recv(fd, request, sizeof request, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) ::close(fd);
        return;
    }
    unsigned value = 0;
    std::from_chars(request, request + n, value);
    char reply[32];
    char* end = std::to_chars(reply, reply + sizeof reply - 1,
                              tp::fib_by_iteration(std::min(value, tp::kFibMaxN)))
                    .ptr;
    *end++ = '\n';
    if (::send(fd, reply, static_cast<std::size_t>(end - reply), MSG_NOSIGNAL) < 0) ::close(fd);
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    tp::Count listeners{4};
    tp::Count backlog{4096};
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("listeners", po::value(&listeners)->value_name("K"), "SO_REUSEPORT sockets on the port, each with its own accept queue (default 4)")
        ("backlog", po::value(&backlog)->value_name("N"), "listen(2) backlog of each, capped by net.core.somaxconn (default 4096)");
    // clang-format on
    po::variables_map vm;
    if (const auto done =
            tp::parse_command_line("bare_listener", "[options]", options, argc, argv, vm))
        return *done;
    tp::require_range("listeners", listeners.value, 1, 64);
    tp::require_range("backlog", backlog.value, 1, 1 << 20);

    std::vector<tp::Fd> sockets;
    sockets.push_back(reuseport_listener(0, static_cast<int>(backlog.value)));
    const std::uint16_t port = tp::local_port(sockets.front().get());
    while (sockets.size() < listeners.value)
        sockets.push_back(reuseport_listener(port, static_cast<int>(backlog.value)));

    const tp::Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    // Tags: a listener's index below kConnection, a connection's descriptor above it.
    constexpr std::uint64_t kStdin = 1ULL << 40, kConnection = 1ULL << 32;
    watch(epoll.get(), STDIN_FILENO, kStdin);
    for (std::size_t i = 0; i < sockets.size(); ++i) watch(epoll.get(), sockets[i].get(), i);

    fmt::print("bare_listener: listening on 127.0.0.1:{} pid={}\n", port, ::getpid());
    std::fflush(stdout);

    std::array<epoll_event, 256> events;
    for (;;) {
        const int n = ::epoll_wait(epoll.get(), events.data(), events.size(), -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "epoll_wait");
        for (int i = 0; i < n; ++i) {
            const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
            if (tag == kStdin) return 0;  // whoever started us is done
            if (tag >= kConnection) {
                answer(static_cast<int>(tag - kConnection));
                continue;
            }
            for (;;) {
                const int fd =
                    ::accept4(sockets[tag].get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                    watch(epoll.get(), fd, kConnection + static_cast<std::uint64_t>(fd));
                    continue;
                }
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) break;
                // Out of descriptors or memory: the listener would stay ready and spin; a bare
                // reference that cannot hold its connections has nothing left to measure.
                throw std::system_error(errno, std::generic_category(), "accept");
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("bare_listener", [&] { return run(argc, argv); });
}
