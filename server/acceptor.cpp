#include "acceptor.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace tp {
namespace {

// Long enough that a server out of descriptors does not spin on a listening socket that stays
// readable; short enough that it resumes soon after connections close.
constexpr int kBackOffMs = 50;

}  // namespace

Acceptor::Acceptor(int listen_fd, int stop_fd) : listen_fd_(listen_fd), stop_fd_(stop_fd) {
    const int flags = ::fcntl(listen_fd_, F_GETFL);
    if (flags < 0 || ::fcntl(listen_fd_, F_SETFL, flags | O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "fcntl O_NONBLOCK on listener");
}

AcceptFailure classify_accept_failure(int error) {
    switch (error) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return AcceptFailure::none_left;
        case EINTR:
        // Linux passes pending network errors of the new connection on to accept(2); they are
        // the client's, and the next client deserves its turn (accept(2), NOTES).
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case EPERM:  // a firewall rule refused it
            return AcceptFailure::retry;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return AcceptFailure::back_off;
        default:
            return AcceptFailure::fatal;
    }
}

bool Acceptor::back_off() {
    pollfd stop{stop_fd_, POLLIN, 0};
    const int rc = ::poll(&stop, 1, kBackOffMs);
    return !(rc > 0 && stop.revents != 0);
}

Fd Acceptor::next() {
    for (;;) {
        std::array<pollfd, 2> fds{{{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}}};
        const int rc = ::poll(fds.data(), fds.size(), -1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "poll on listener");
        }
        if (fds[0].revents != 0) return Fd();  // asked to stop: that comes before new clients
        if (fds[1].revents == 0) continue;

        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            ++accepted_;
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return Fd(fd);
        }
        switch (classify_accept_failure(errno)) {
            case AcceptFailure::none_left:  // the connection went away between poll and accept
            case AcceptFailure::retry:
                continue;
            case AcceptFailure::back_off:
                // The connection stays queued and the listener readable: without a pause this
                // would spin at 100% CPU until a descriptor frees up.
                resource_note_.record(errno);
                if (!back_off()) return Fd();
                continue;
            case AcceptFailure::fatal:
                throw std::system_error(errno, std::generic_category(), "accept");
        }
    }
}

}  // namespace tp
