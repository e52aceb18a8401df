// SIGINT and SIGTERM as a request to stop, not a death: the server stops accepting and exits
// cleanly; a probe stops spawning, tears down what it built, stops its server and writes what
// it measured. The signals are blocked in every thread and read from a signalfd, so no handler
// runs in a signal context and any wait can poll fd() beside its sockets.
#pragma once

#include <atomic>
#include <chrono>

#include "net.hpp"

namespace tp {

class StopSignal {
  public:
    // Blocks SIGINT and SIGTERM in the calling thread and in every thread it creates from
    // now on: construct it in main before any other thread starts. Also ignores SIGPIPE:
    // socket writes use MSG_NOSIGNAL, this covers anything else that writes to a peer.
    StopSignal();
    ~StopSignal();
    StopSignal(const StopSignal&) = delete;
    StopSignal& operator=(const StopSignal&) = delete;

    // True once a stop was asked for; never blocks.
    bool requested();
    // Sleeps up to `d`; returns true (early) if a stop was asked for.
    bool wait_for(std::chrono::nanoseconds d);
    // Readable while a stop signal is pending; for poll() beside sockets.
    int fd() const { return fd_.get(); }
    // The signal that asked, 0 if none has.
    int signal_number() const { return signal_.load(); }

  private:
    void consume();

    Fd fd_;
    std::atomic<int> signal_{0};
};

}  // namespace tp
