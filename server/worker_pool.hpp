// A fixed set of worker processes (worker_process.hpp) that connection threads borrow one at a
// time: the article's ProcessPoolExecutor, where pool.submit(fib, n).result() blocks the
// calling thread until a worker has answered.
//
// Borrowing takes a mutex and waits on a condition variable over a fixed array, so it never
// touches the heap (connection threads must not; see models/threads.cpp). A worker that dies
// mid-request fails only that request: a supervisor thread, which lives as long as the pool
// (workers die with the thread that forked them), reaps it and forks a replacement.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "worker_process.hpp"

namespace tp {

class WorkerPool {
  public:
    // Forks `workers` (>= 1) processes now, from the calling thread, before any connection
    // thread exists. Throws std::system_error.
    explicit WorkerPool(unsigned workers);
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    ~WorkerPool() { shutdown(); }

    // fib(n) from an idle worker, waiting for one if all are busy; nullopt if that worker died
    // meanwhile (it is replaced) or the pool is shutting down.
    std::optional<std::uint64_t> compute(unsigned n);

    // Stops the supervisor and the workers; later and pending compute() calls fail.
    void shutdown();

  private:
    enum class State : std::uint8_t { idle, busy, dead };
    struct Slot {
        WorkerProcess worker;
        State state = State::idle;
    };

    void supervise();

    mutable std::mutex mutex_;
    std::condition_variable idle_;        // a slot became idle, or stopping
    std::condition_variable casualties_;  // a slot died, or stopping
    std::vector<Slot> slots_;             // fixed size from construction on
    bool stopping_ = false;
    std::thread supervisor_;
};

}  // namespace tp
