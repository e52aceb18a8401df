// An interpreter lock the way CPython has had it since 3.2 (Beazley's "new GIL",
// Python/ceval_gil.h): one lock for all computing threads; a thread that has waited
// `switch_interval` for it sets a drop request (the "eval breaker"); the holder checks that
// request at checkpoints inside its computation and hands the lock over, then waits until the
// other thread has actually taken it before competing again (FORCE_SWITCHING), so that the
// thread that just dropped it cannot win it straight back.
//
// One addition, for determinism: a thread that was already waiting when the lock was released
// gets it before any thread that asks later, in particular before the releasing thread coming
// back from its socket call. CPython leaves that race to the scheduler, and the woken waiter
// usually wins it; here it must not depend on wake-up latency (a VM's idle vCPU, a sanitizer's
// interceptors), or the I/O thread could retake the lock again and again before the computing
// thread runs, and the article's collapse would come and go with the machine's mood. For the
// same reason a holder that yields on request counts as waiting from the moment it lets go.
//
// Waiting uses std::mutex and std::condition_variable only: no heap, as connection threads
// require (models/threads.cpp).
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "fib.hpp"

namespace tp {

class Gil {
  public:
    explicit Gil(std::chrono::nanoseconds switch_interval) : interval_(switch_interval) {}
    Gil(const Gil&) = delete;
    Gil& operator=(const Gil&) = delete;

    // take_gil(): blocks until the calling thread holds the lock.
    void acquire();
    // drop_gil(): the caller must hold it. If a drop was requested, waits until another
    // thread has taken it.
    void release();
    // What the holder does at a checkpoint that found a drop request: release, then acquire.
    void yield();

    // The eval breaker, for Checkpoint::request.
    const std::atomic<bool>& drop_request() const { return drop_request_; }
    // A checkpoint for fib_with_checkpoint that yields this lock.
    Checkpoint checkpoint();

    // How many times the lock changed hands (CPython's switch_number): for tests and notes.
    std::uint64_t switches() const;

  private:
    bool may_take(std::uint64_t arrival) const;
    // acquire() and release() with the mutex held; take() expects the caller counted in
    // waiters_, with `arrival` the releases_ count when it began waiting.
    void take(std::unique_lock<std::mutex>& lock, std::uint64_t arrival);
    void drop(std::unique_lock<std::mutex>& lock);

    const std::chrono::nanoseconds interval_;
    mutable std::mutex mutex_;
    std::condition_variable released_;  // gil->cond: the lock became free
    std::condition_variable switched_;  // gil->switch_cond: someone else took it
    bool locked_ = false;
    bool has_holder_ = false;
    pthread_t last_holder_{};
    std::uint64_t switch_number_ = 0;
    std::uint64_t releases_ = 0;  // arrival stamps: who was waiting before which release
    unsigned waiters_ = 0;
    bool reserved_ = false;  // released while threads waited: one of them takes it next
    std::uint64_t reserved_at_ = 0;
    std::atomic<bool> drop_request_{false};
};

}  // namespace tp
