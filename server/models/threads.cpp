// The article's second server: a thread per connection, here a detached pthread with the stack
// size from --stack (std::thread cannot set one), because what this model exists to measure is
// the cost of one more thread.
//
// For that measurement a connection thread must cost its stack and nothing else, so it never
// touches the heap: the first malloc or free in a thread makes glibc give it an arena, 64 MiB
// of address space that would swamp the stack + 4 KiB guard being measured. Hence fixed
// buffers on the thread's stack, std::to_chars for replies, and the start slots below.
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#include "acceptor.hpp"
#include "model.hpp"
#include "process_lifetime.hpp"
#include "rate_limited_note.hpp"

namespace tp {

namespace {

// Hands each new thread its descriptor and settings without the heap and without waiting for
// the thread to run. Waiting (a semaphore per thread, as Python's Thread.start() does) made
// the accept loop sleep until the scheduler ran each new thread: with a thousand connecting
// clients on two cores, milliseconds per connection, which threadprobe would report as the
// cost of a thread. A slot is busy from accept until its thread has copied it.
class StartSlots {
  public:
    struct Slot {
        int fd = -1;
        const ConnectionSettings* settings = nullptr;
        // Connections open now, for --max-connections: the thread counts itself out at its end.
        std::atomic<std::uint64_t>* open_connections = nullptr;
        std::atomic<bool> busy{false};
    };

    StartSlots(const ConnectionSettings& settings, std::atomic<std::uint64_t>& open_connections)
        : slots_(kSlots) {
        for (auto& slot : slots_) {
            slot.settings = &settings;
            slot.open_connections = &open_connections;
        }
    }
    StartSlots(const StartSlots&) = delete;
    StartSlots& operator=(const StartSlots&) = delete;
    // Threads that have not yet started still read their slot; the slots outlive them.
    ~StartSlots() { wait_all_free(std::chrono::seconds(2)); }

    // A free slot holding `fd`. All busy means 4096 threads created and not yet scheduled:
    // wait for the oldest rather than grow.
    Slot& take(int fd) {
        for (;;) {
            Slot& slot = slots_[next_];
            next_ = (next_ + 1) % slots_.size();
            if (!slot.busy.load(std::memory_order_acquire)) {
                slot.fd = fd;
                slot.busy.store(true, std::memory_order_release);
                return slot;
            }
            ::sched_yield();
        }
    }

    static void give_back(Slot& slot) { slot.busy.store(false, std::memory_order_release); }

  private:
    static constexpr std::size_t kSlots = 4096;

    void wait_all_free(std::chrono::nanoseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (auto& slot : slots_)
            while (slot.busy.load(std::memory_order_acquire) &&
                   std::chrono::steady_clock::now() < deadline)
                ::sched_yield();
    }

    std::vector<Slot> slots_;
    std::size_t next_ = 0;
};

void* connection_thread(void* arg) {
    auto& slot = *static_cast<StartSlots::Slot*>(arg);
    const int fd = slot.fd;
    // Its own copy: when the server stops, main() returns and destroys the model while this
    // thread may still be computing; it must not be reading the model's settings then.
    const ConnectionSettings settings = *slot.settings;
    std::atomic<std::uint64_t>& open_connections = *slot.open_connections;
    StartSlots::give_back(slot);  // the slot may serve another connection from here on
    serve_connection(fd, settings);
    ::close(fd);
    open_connections.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
}

class ThreadAttributes {
  public:
    explicit ThreadAttributes(std::optional<std::size_t> stack) {
        if (const int rc = ::pthread_attr_init(&attr_); rc != 0)
            throw std::system_error(rc, std::generic_category(), "pthread_attr_init");
        if (const int rc = ::pthread_attr_setdetachstate(&attr_, PTHREAD_CREATE_DETACHED); rc != 0)
            throw std::system_error(rc, std::generic_category(), "pthread_attr_setdetachstate");
        if (stack) {
            if (const int rc = ::pthread_attr_setstacksize(&attr_, *stack); rc != 0)
                throw std::system_error(rc, std::generic_category(),
                                        fmt::format("pthread_attr_setstacksize {}", *stack));
        }
    }
    ThreadAttributes(const ThreadAttributes&) = delete;
    ThreadAttributes& operator=(const ThreadAttributes&) = delete;
    ~ThreadAttributes() { ::pthread_attr_destroy(&attr_); }

    const pthread_attr_t* get() const { return &attr_; }

  private:
    pthread_attr_t attr_;
};

// Starts a detached thread serving `fd` (which it then owns on success); 0 or the starter's
// error.
int spawn_connection_thread(const ThreadStarter& start, const ThreadAttributes& attributes,
                            StartSlots& slots, int fd) {
    StartSlots::Slot& slot = slots.take(fd);
    const int rc = start(*attributes.get(), connection_thread, &slot);
    if (rc != 0) StartSlots::give_back(slot);
    return rc;
}

int start_with_pthread_create(const pthread_attr_t& attributes, void* (*body)(void*),
                              void* argument) {
    pthread_t thread;
    return ::pthread_create(&thread, &attributes, body, argument);
}

class ThreadsModel final : public Model {
  public:
    ThreadsModel(const ServerConfig& config, ThreadStarter start)
        : settings_(config.connection),
          max_connections_(config.max_connections),
          too_many_(too_many_connections_line(config.max_connections)),
          start_(start ? std::move(start) : start_with_pthread_create),
          attributes_(config.thread_stack),
          // Connection threads count themselves out after the model is gone.
          open_connections_(make_for_process_lifetime<std::atomic<std::uint64_t>>(0)),
          slots_(settings_, open_connections_) {}

    ServeSummary serve(int listen_fd, int stop_fd) override {
        Acceptor acceptor(listen_fd, stop_fd);
        RateLimitedNote failures("cannot create a connection thread");
        RateLimitedNote over_capacity(
            fmt::format("refused a connection: too many (max {})", max_connections_));
        while (Fd client = acceptor.next()) {
            if (open_connections_.fetch_add(1, std::memory_order_relaxed) >= max_connections_) {
                open_connections_.fetch_sub(1, std::memory_order_relaxed);
                over_capacity.record();
                refuse_connection(client.get(), too_many_);
                continue;
            }
            const int error = spawn_connection_thread(start_, attributes_, slots_, client.get());
            if (error == 0) {
                client.release();
                continue;
            }
            open_connections_.fetch_sub(1, std::memory_order_relaxed);
            // The client hears why, the others go on being served, and the count ends up in
            // the stop note: a thread limit is a measurement here, not a crash.
            failures.record(error);
            refuse_connection(client.get(), fmt::format("error: cannot create thread: {}\n",
                                                        std::generic_category().message(error)));
        }
        return {acceptor.accepted(), failures.total(), over_capacity.total()};
    }

  private:
    ConnectionSettings settings_;
    std::uint64_t max_connections_;
    std::string too_many_;
    ThreadStarter start_;
    ThreadAttributes attributes_;
    std::atomic<std::uint64_t>& open_connections_;
    StartSlots slots_;  // last: destroyed first, while the settings it points to still exist
};

}  // namespace

std::unique_ptr<Model> make_threads_model(const ServerConfig& config, ThreadStarter start) {
    return std::make_unique<ThreadsModel>(config, std::move(start));
}

}  // namespace tp
