// The accept loop every blocking model shares: waits for a connection or for the stop signal,
// and survives what accept(2) throws at a busy server.
#pragma once

#include <cstdint>

#include "net.hpp"
#include "rate_limited_note.hpp"

namespace tp {

// What a failed accept(2) means for the loop that called it, by its errno.
enum class AcceptFailure {
    none_left,  // EAGAIN: nothing more to accept now
    retry,      // EINTR, or the new connection's own network error: the next client's turn
    back_off,   // out of descriptors or memory: the client stays queued, pause before retrying
    fatal,      // the listening socket itself is broken
};
AcceptFailure classify_accept_failure(int error);

class Acceptor {
  public:
    // `listen_fd` is made non-blocking: poll() may report a connection that is gone (reset)
    // by the time accept() runs, and a blocking accept would then wait for the next one
    // without watching `stop_fd`.
    Acceptor(int listen_fd, int stop_fd);

    // The next client (blocking, with TCP_NODELAY: replies are small single writes and a
    // batch of them must not wait on Nagle), or an empty Fd once `stop_fd` is readable.
    // Throws std::system_error only for errors that say the listening socket itself is broken.
    Fd next();

    std::uint64_t accepted() const { return accepted_; }
    // How often accept failed for want of descriptors or memory (the client waits in the
    // queue meanwhile).
    std::uint64_t resource_stalls() const { return resource_note_.total(); }

  private:
    // Sleeps a little, waking early for the stop signal; false if it fired.
    bool back_off();

    int listen_fd_;
    int stop_fd_;
    std::uint64_t accepted_ = 0;
    RateLimitedNote resource_note_{"accept (backing off)"};
};

}  // namespace tp
