// SIGINT and SIGTERM as a file descriptor (signalfd): every wait in the server polls it beside
// its sockets, so stopping needs neither a handler nor a global flag. main() creates it before
// any thread, so every thread inherits the blocked mask and none gets the default action.
#pragma once

#include <utility>

#include "net.hpp"

namespace tp {

class StopSignals {
  public:
    // Blocks SIGINT and SIGTERM in the calling thread, opens the signalfd, and ignores SIGPIPE
    // (writes use MSG_NOSIGNAL already; this covers anything else that writes to a socket).
    // Throws std::system_error.
    static StopSignals install();

    // Readable once a stop signal is pending; stays readable until take() reads it.
    int fd() const { return fd_.get(); }
    // The pending signal's number, consuming it; 0 if none is pending.
    int take();

  private:
    explicit StopSignals(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
};

}  // namespace tp
