// One forked process that computes fib(n) for its parent: the article's ProcessPoolExecutor
// worker, without the pickling. The pool, threshold and epoll models hand requests to these.
//
// Wire: a SOCK_SEQPACKET socketpair, so every message arrives whole or not at all, which makes
// the parent end usable blocking or non-blocking alike (the epoll model registers fd() in its
// epoll set and calls send()/receive() when ready; one recv always returns a whole message).
//   request: 4 bytes, the n as std::uint32_t, native-endian (parent and child are one binary);
//   reply:   8 bytes, fib(n) as std::uint64_t, native-endian.
// One request at a time per worker: send, then receive, then the next send.
//
// Lifetime: the worker ends when its parent end is closed (EOF), when stop() kills it, or when
// the thread that spawned it ends (PR_SET_PDEATHSIG fires on the death of the forking *thread*,
// not the process): spawn workers from a thread that lives as long as they should, e.g. the
// model's serving thread or a supervisor thread, never from a connection thread. SIGINT and
// SIGTERM are ignored in the worker: a terminal's Ctrl-C reaches the whole process group, and
// the server, not the worker, decides when the work stops.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace tp {

class WorkerProcess {
  public:
    // Forks a worker. Safe from a multithreaded process: after fork the child only closes
    // descriptors, reads, computes and writes (no heap, no locks). Throws std::system_error.
    static WorkerProcess spawn();

    WorkerProcess() = default;
    WorkerProcess(WorkerProcess&& other) noexcept;
    WorkerProcess& operator=(WorkerProcess&& other) noexcept;
    WorkerProcess(const WorkerProcess&) = delete;
    WorkerProcess& operator=(const WorkerProcess&) = delete;
    ~WorkerProcess() { stop(); }

    // The parent end (close-on-exec); -1 once stopped. The caller may make it non-blocking.
    int fd() const { return fd_; }
    pid_t pid() const { return pid_; }
    explicit operator bool() const { return fd_ >= 0; }

    // Sends one request; false if the worker is gone (or, non-blocking, the buffer is full,
    // which cannot happen with one request in flight). Never raises SIGPIPE.
    bool send(unsigned n);
    // The reply to the request in flight. Blocks until it comes even on a non-blocking fd
    // (polls on EAGAIN); nullopt if the worker died (end of stream or error).
    std::optional<std::uint64_t> receive();
    // Closes the parent end, kills the worker and reaps it. Idempotent; no-op when empty.
    void stop();

  private:
    WorkerProcess(int fd, pid_t pid) : fd_(fd), pid_(pid) {}

    int fd_ = -1;
    pid_t pid_ = -1;
};

// Worker processes for `requested` (0 = one per online CPU, at least 1).
unsigned worker_count(unsigned requested);

}  // namespace tp
