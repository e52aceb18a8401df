#include "net.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <system_error>

namespace tp {

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

Fd::~Fd() {
    reset();
}

int Fd::release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void Fd::reset(int fd) {
    // close() is not retried on EINTR: on Linux the descriptor is gone either way.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Endpoint parse_endpoint(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        throw std::invalid_argument(fmt::format("'{}' is not HOST:PORT", text));
    const std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
        throw std::invalid_argument(fmt::format("'{}' has no valid port (1-65535)", text));
    std::string host(text.substr(0, colon));
    if (host == "localhost") host = "127.0.0.1";
    in_addr addr{};
    // inet_pton reads up to the first NUL, so "127.0.0.1\0junk" would pass for 127.0.0.1 while
    // the host kept for messages says otherwise.
    if (host.find('\0') != std::string::npos || ::inet_pton(AF_INET, host.c_str(), &addr) != 1)
        throw std::invalid_argument(
            fmt::format("'{}' is not an IPv4 address (threadprobe talks to 127.0.0.1)", host));
    return {std::move(host), static_cast<std::uint16_t>(port)};
}

namespace {

sockaddr_in make_address(const std::string& host, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
        throw std::invalid_argument(fmt::format("'{}' is not an IPv4 address", host));
    return addr;
}

}  // namespace

Fd listen_tcp(const std::string& host, std::uint16_t port, int backlog) {
    const sockaddr_in addr = make_address(host, port);
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("bind {}:{}", host, port));
    if (::listen(fd.get(), backlog) != 0)
        throw std::system_error(errno, std::generic_category(), "listen");
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::system_error(errno, std::generic_category(), "getsockname");
    return ntohs(addr.sin_port);
}

int try_connect_tcp(const Endpoint& to, const std::string* source_host) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(to.port);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    if (::inet_pton(AF_INET, to.host.c_str(), &addr.sin_addr) != 1 ||
        (source_host && ::inet_pton(AF_INET, source_host->c_str(), &source.sin_addr) != 1)) {
        errno = EINVAL;
        return -1;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = 0;
    if (source_host) {
        // The port is chosen at connect(), unique per whole 4-tuple, not at bind(), where it
        // would have to be unique per source address alone and bind() would take only half the
        // ephemeral range.
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source);
    }
    if (rc == 0) do {
            rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

Fd connect_tcp(const Endpoint& to) {
    const int fd = try_connect_tcp(to);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("connect to {}:{}", to.host, to.port));
    return Fd(fd);
}

ssize_t read_some(int fd, void* buf, std::size_t len) {
    ssize_t n;
    do {
        n = ::read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n;
}

bool write_all(int fd, const void* buf, std::size_t len) {
    const char* p = static_cast<const char*>(buf);
    bool socket = true;
    while (len > 0) {
        const ssize_t n = socket ? ::send(fd, p, len, MSG_NOSIGNAL) : ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOTSOCK && socket) {
                socket = false;  // a pipe or a file
                continue;
            }
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace tp
