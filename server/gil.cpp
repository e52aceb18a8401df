#include "gil.hpp"

namespace tp {

void Gil::acquire() {
    std::unique_lock lock(mutex_);
    const std::uint64_t arrival = releases_;
    ++waiters_;
    take(lock, arrival);
}

void Gil::take(std::unique_lock<std::mutex>& lock, std::uint64_t arrival) {
    while (!may_take(arrival)) {
        const std::uint64_t seen = switch_number_;
        const auto deadline = std::chrono::steady_clock::now() + interval_;
        bool timed_out = false;
        while (!may_take(arrival) && !timed_out)
            timed_out = released_.wait_until(lock, deadline) == std::cv_status::timeout;
        // Waited a whole interval and nobody took the lock meanwhile: ask the holder to drop.
        if (timed_out && locked_ && switch_number_ == seen)
            drop_request_.store(true, std::memory_order_relaxed);
    }
    --waiters_;
    locked_ = true;
    reserved_ = false;
    const pthread_t self = ::pthread_self();
    if (!has_holder_ || !::pthread_equal(last_holder_, self)) {
        last_holder_ = self;
        has_holder_ = true;
        ++switch_number_;
        switched_.notify_all();
    }
    // Whoever asked has it now (or asked of the previous holder, who let go).
    drop_request_.store(false, std::memory_order_relaxed);
}

bool Gil::may_take(std::uint64_t arrival) const {
    return !locked_ && (!reserved_ || arrival < reserved_at_);
}

void Gil::release() {
    std::unique_lock lock(mutex_);
    drop(lock);
}

void Gil::drop(std::unique_lock<std::mutex>& lock) {
    locked_ = false;
    ++releases_;
    if (waiters_ > 0) {
        reserved_ = true;
        reserved_at_ = releases_;
        released_.notify_all();
    }
    // FORCE_SWITCHING: a thread that was asked to drop lets the asker run before it may take
    // the lock again. drop_request may have been reset by the new holder already, so this
    // waits while the caller is still the last holder, whatever the flag says now.
    if (drop_request_.load(std::memory_order_relaxed)) {
        const pthread_t self = ::pthread_self();
        switched_.wait(lock, [&] { return !::pthread_equal(last_holder_, self); });
    }
}

void Gil::yield() {
    std::unique_lock lock(mutex_);
    if (waiters_ == 0) {  // nobody to yield to (cannot happen while a request is set; cheap)
        drop_request_.store(false, std::memory_order_relaxed);
        return;
    }
    // In the queue from the moment it lets go (see the header): whoever took the lock from it
    // hands it back at its next release, not at whichever comes after this thread wakes up.
    const std::uint64_t arrival = releases_ + 1;
    ++waiters_;
    drop(lock);
    take(lock, arrival);
}

Checkpoint Gil::checkpoint() {
    Checkpoint c;
    c.request = &drop_request_;
    c.yield = [](void* gil) { static_cast<Gil*>(gil)->yield(); };
    c.context = this;
    return c;
}

std::uint64_t Gil::switches() const {
    const std::lock_guard lock(mutex_);
    return switch_number_;
}

}  // namespace tp
