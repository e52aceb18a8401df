#include "worker_pool.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <system_error>

namespace tp {

WorkerPool::WorkerPool(unsigned workers) : slots_(std::max(workers, 1u)) {
    for (auto& slot : slots_) slot.worker = WorkerProcess::spawn();
    supervisor_ = std::thread([this] { supervise(); });
}

std::optional<std::uint64_t> WorkerPool::compute(unsigned n) {
    Slot* slot = nullptr;
    {
        std::unique_lock lock(mutex_);
        for (;;) {
            if (stopping_) return std::nullopt;
            const auto idle = std::find_if(slots_.begin(), slots_.end(),
                                           [](const Slot& s) { return s.state == State::idle; });
            if (idle != slots_.end()) {
                slot = &*idle;
                break;
            }
            idle_.wait(lock);
        }
        slot->state = State::busy;
    }
    // The worker is this thread's alone until it is given back.
    std::optional<std::uint64_t> value;
    if (slot->worker.send(n)) value = slot->worker.receive();

    const std::lock_guard lock(mutex_);
    if (value) {
        slot->state = State::idle;
        idle_.notify_one();
    } else {
        slot->state = State::dead;
        casualties_.notify_one();
    }
    return value;
}

void WorkerPool::supervise() {
    std::unique_lock lock(mutex_);
    for (;;) {
        casualties_.wait(lock, [&] {
            return stopping_ || std::any_of(slots_.begin(), slots_.end(),
                                            [](const Slot& s) { return s.state == State::dead; });
        });
        if (stopping_) return;
        for (auto& slot : slots_) {
            if (slot.state != State::dead) continue;
            // Nobody else touches a dead slot, so the slow part runs unlocked.
            lock.unlock();
            const pid_t old_pid = slot.worker.pid();
            slot.worker.stop();
            bool replaced = false;
            try {
                slot.worker = WorkerProcess::spawn();
                replaced = true;
                fmt::print(stderr, "fibserver: worker {} failed; replaced by worker {}\n", old_pid,
                           slot.worker.pid());
            } catch (const std::system_error& e) {
                fmt::print(stderr, "fibserver: cannot replace worker {}: {}\n", old_pid, e.what());
            }
            lock.lock();
            if (replaced) {
                slot.state = State::idle;
                idle_.notify_one();
            } else {
                // Try again shortly rather than spin on fork failures.
                casualties_.wait_for(lock, std::chrono::milliseconds(100),
                                     [&] { return stopping_; });
                if (stopping_) return;
            }
        }
    }
}

void WorkerPool::shutdown() {
    {
        const std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        idle_.notify_all();
        casualties_.notify_all();
    }
    if (supervisor_.joinable()) supervisor_.join();
    // Killing the workers ends every receive() in progress: those requests fail, and their
    // connection threads go on to process exit.
    for (auto& slot : slots_) {
        if (slot.state != State::busy) {
            slot.worker.stop();
        } else if (slot.worker.pid() > 0) {
            ::kill(slot.worker.pid(), SIGKILL);
        }
    }
}

}  // namespace tp
