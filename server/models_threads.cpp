// The article's second server: a thread per connection, here a detached pthread with the stack
// size from --stack (std::thread cannot set one), because what this model exists to measure is
// the cost of one more thread.
//
// For that measurement a connection thread must cost its stack and nothing else, so it never
// touches the heap: the first malloc or free in a thread makes glibc give it an arena, 64 MiB
// of address space that would swamp the stack + 4 KiB guard being measured. Hence fixed
// buffers on the thread's stack, std::to_chars for replies, and the start handshake below.
#include <fmt/format.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "acceptor.hpp"
#include "model.hpp"
#include "rate_limited_note.hpp"

namespace tp {

namespace {

// Lives on the accepting thread's stack until the new thread has copied it.
struct ThreadStart {
    int fd;
    const ConnectionSettings* settings;
    sem_t copied;
};

void* connection_thread(void* arg) {
    auto* start = static_cast<ThreadStart*>(arg);
    const int fd = start->fd;
    // Its own copy: when the server stops, main() returns and destroys the model while this
    // thread may still be computing; it must not be reading the model's settings then.
    const ConnectionSettings settings = *start->settings;
    ::sem_post(&start->copied);  // `start` is gone after this
    serve_connection(fd, settings);
    ::close(fd);
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

// Starts a detached thread serving `fd` (which it then owns); 0 or pthread_create's error.
// Waits until the thread has copied what it needs -- the handshake Python's Thread.start()
// makes too. The alternative, a heap block handed over for the thread to free, would give
// every connection thread a malloc arena: glibc's free() sets up the calling thread's cache.
int spawn_connection_thread(const ThreadAttributes& attributes, int fd,
                            const ConnectionSettings& settings) {
    ThreadStart start{fd, &settings, {}};
    if (::sem_init(&start.copied, 0, 0) != 0) return errno;
    pthread_t thread;
    const int rc = ::pthread_create(&thread, attributes.get(), connection_thread, &start);
    if (rc == 0) {
        while (::sem_wait(&start.copied) != 0 && errno == EINTR) {
        }
    }
    ::sem_destroy(&start.copied);
    return rc;
}

class ThreadsModel final : public Model {
  public:
    ThreadsModel(const ConnectionSettings& settings, std::optional<std::size_t> stack)
        : settings_(settings), attributes_(stack) {}

    ServeSummary serve(int listen_fd, int stop_fd) override {
        Acceptor acceptor(listen_fd, stop_fd);
        RateLimitedNote failures("cannot create a connection thread");
        while (Fd client = acceptor.next()) {
            const int error = spawn_connection_thread(attributes_, client.get(), settings_);
            if (error == 0) {
                client.release();
                continue;
            }
            // The client hears why, the others go on being served, and the count ends up in
            // the stop note: a thread limit is a measurement here, not a crash.
            failures.record(error);
            write_all(client.get(), fmt::format("error: cannot create thread: {}\n",
                                                std::generic_category().message(error)));
            finish_connection(client.get());
        }
        return {acceptor.accepted(), failures.total()};
    }

  private:
    ConnectionSettings settings_;
    ThreadAttributes attributes_;
};

}  // namespace

std::unique_ptr<Model> make_threads_model(const ServerConfig& config) {
    return std::make_unique<ThreadsModel>(config.connection, config.thread_stack);
}

}  // namespace tp
