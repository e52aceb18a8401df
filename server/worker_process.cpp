#include "worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "fib.hpp"

namespace tp {
namespace {

// The descriptor the worker's end takes in the child; everything above it is closed there.
constexpr int kChildFd = 3;

// After fork in a possibly multithreaded parent: system calls and fib only. Any lock another
// thread held at fork time (malloc's, stdio's) stays locked forever in the child.
[[noreturn]] void worker_main(int fd, pid_t parent) {
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);  // the parent died before the line above
    if (fd != kChildFd) {
        ::dup2(fd, kChildFd);
    }
    // Not the parent's clients, listening socket or other workers' ends: a worker holding them
    // would keep connections open after the server closed them, and keep its siblings from
    // seeing end of stream.
    ::close_range(kChildFd + 1, ~0U, 0);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDOUT_FILENO);
        if (devnull > STDERR_FILENO && devnull != kChildFd) ::close(devnull);
    }
    for (;;) {
        std::uint32_t n = 0;
        const ssize_t got = ::recv(kChildFd, &n, sizeof n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got != static_cast<ssize_t>(sizeof n)) ::_exit(0);  // parent gone or closed
        const std::uint64_t value = n <= kFibMaxN ? fib(n) : 0;
        for (;;) {
            const ssize_t sent = ::send(kChildFd, &value, sizeof value, MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent != static_cast<ssize_t>(sizeof value)) ::_exit(0);
            break;
        }
    }
}

}  // namespace

WorkerProcess WorkerProcess::spawn() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0)
        throw std::system_error(errno, std::generic_category(), "socketpair for a worker");
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int error = errno;
        ::close(ends[0]);
        ::close(ends[1]);
        throw std::system_error(error, std::generic_category(), "fork a worker");
    }
    if (pid == 0) worker_main(ends[1], parent);
    ::close(ends[1]);
    return WorkerProcess(ends[0], pid);
}

WorkerProcess::WorkerProcess(WorkerProcess&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), pid_(std::exchange(other.pid_, -1)) {}

WorkerProcess& WorkerProcess::operator=(WorkerProcess&& other) noexcept {
    if (this != &other) {
        stop();
        fd_ = std::exchange(other.fd_, -1);
        pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
}

bool WorkerProcess::send(unsigned n) {
    const std::uint32_t request = n;
    for (;;) {
        const ssize_t sent = ::send(fd_, &request, sizeof request, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        return sent == static_cast<ssize_t>(sizeof request);
    }
}

std::optional<std::uint64_t> WorkerProcess::receive() {
    for (;;) {
        std::uint64_t value = 0;
        const ssize_t got = ::recv(fd_, &value, sizeof value, 0);
        if (got == static_cast<ssize_t>(sizeof value)) return value;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLIN, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        return std::nullopt;  // end of stream: the worker died; or a short, broken message
    }
}

void WorkerProcess::stop() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
}

unsigned worker_count(unsigned requested) {
    if (requested != 0) return requested;
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? static_cast<unsigned>(online) : 1;
}

}  // namespace tp
