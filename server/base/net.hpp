// Sockets, the small part of them the server and the probes both need. Set-up calls throw
// std::system_error carrying errno; the per-connection calls return codes (they run in every
// connection thread, where an exception per failed peer would cost more than the peer).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tp {

// Owns one file descriptor; closes it once.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release();
    void reset(int fd = -1);

  private:
    int fd_ = -1;
};

// "127.0.0.1:25000" -> host and port. Throws std::invalid_argument naming what is wrong.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
};
Endpoint parse_endpoint(std::string_view text);

// A listening TCP socket on host:port (port 0 = ephemeral), SO_REUSEADDR like the article's.
Fd listen_tcp(const std::string& host, std::uint16_t port, int backlog);
std::uint16_t local_port(int fd);

// A connected TCP socket with TCP_NODELAY (requests are tiny and latency is what we measure).
// Throws std::system_error.
Fd connect_tcp(const Endpoint& to);
// The same, returning -1 with errno set; for connection threads. With `source_host`, from that
// address (127.0.0.2, ...): each source address has an ephemeral port range of its own.
int try_connect_tcp(const Endpoint& to, const std::string* source_host = nullptr);

// read(2) that retries EINTR: >0 bytes, 0 at end of stream, -1 with errno on error.
ssize_t read_some(int fd, void* buf, std::size_t len);
// Writes everything, retrying EINTR and short writes; false with errno on error. On a socket
// it uses MSG_NOSIGNAL (a peer that vanished is an error code, never a SIGPIPE); on a pipe or
// a file, plain write(2).
bool write_all(int fd, const void* buf, std::size_t len);
inline bool write_all(int fd, std::string_view s) {
    return write_all(fd, s.data(), s.size());
}

}  // namespace tp
