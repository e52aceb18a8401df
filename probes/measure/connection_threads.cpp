#include "connection_threads.hpp"

#include <alloca.h>
#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "fib.hpp"

namespace tp {
namespace {

// Parks until `released` is set, without std::atomic::wait's spinning first: it calls
// sched_yield a few times before sleeping, which in ten thousand threads sharing two cores made
// the ramp switch context about twice as often (measured with perf stat; scripts/bench).
void park_until_released(std::atomic<std::uint32_t>& released) {
    while (released.load(std::memory_order_acquire) == 0)
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&released), FUTEX_WAIT_PRIVATE, 0,
                  nullptr, nullptr, 0);
}

void release_all(std::atomic<std::uint32_t>& released) {
    released.store(1, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&released), FUTEX_WAKE_PRIVATE, INT_MAX,
              nullptr, nullptr, 0);
}

}  // namespace

const char* connection_failure_name(ConnectionFailure f) {
    switch (f) {
        case ConnectionFailure::none:
            return "none";
        case ConnectionFailure::connect:
            return "connect";
        case ConnectionFailure::request:
            return "request";
        case ConnectionFailure::reply:
            return "reply";
        case ConnectionFailure::refused:
            return "refused";
    }
    return "?";
}

ConnectionThreads::ConnectionThreads(ConnectionThreadConfig config) : config_(std::move(config)) {
    // Request and expected reply are formatted once, here, so threads only compare bytes.
    auto r = std::to_chars(request_, request_ + sizeof request_ - 1, config_.request_n);
    *r.ptr++ = '\n';
    request_len_ = static_cast<std::size_t>(r.ptr - request_);
    auto e = std::to_chars(expected_reply_, expected_reply_ + sizeof expected_reply_ - 1,
                           fib_by_iteration(config_.request_n));
    *e.ptr++ = '\n';
    expected_len_ = static_cast<std::size_t>(e.ptr - expected_reply_);

    if (const int rc = ::pthread_attr_init(&attr_); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_attr_init");
    if (config_.stack) {
        if (const int rc = ::pthread_attr_setstacksize(&attr_, *config_.stack); rc != 0) {
            ::pthread_attr_destroy(&attr_);
            throw std::system_error(rc, std::generic_category(), "pthread_attr_setstacksize");
        }
    }
}

ConnectionThreads::~ConnectionThreads() {
    release();
    join();
    ::pthread_attr_destroy(&attr_);
}

int ConnectionThreads::spawn_one() {
    if (threads_.capacity() == threads_.size())
        threads_.reserve(std::max<std::size_t>(1024, threads_.size() * 2));
    pthread_t tid;
    const int rc = ::pthread_create(&tid, &attr_, &ConnectionThreads::thread_main, this);
    if (rc == 0) threads_.push_back(tid);
    return rc;
}

void* ConnectionThreads::thread_main(void* self) {
    auto* owner = static_cast<ConnectionThreads*>(self);
    owner->run_one(owner->next_index_.fetch_add(1));
    return nullptr;
}

void ConnectionThreads::fail(std::uint64_t index, ConnectionFailure failure, int error,
                             const char* server_said) {
    switch (failure) {
        case ConnectionFailure::connect:
            ++connect_errors_;
            break;
        case ConnectionFailure::request:
            ++request_errors_;
            break;
        case ConnectionFailure::reply:
            ++reply_errors_;
            break;
        case ConnectionFailure::refused:
            ++refused_;
            break;
        case ConnectionFailure::none:
            break;
    }
    if (!first_error_taken_.exchange(true)) {
        first_error_.failure = failure;
        first_error_.error = error;
        first_error_.thread = index;
        if (server_said)
            std::strncpy(first_server_said_, server_said, sizeof first_server_said_ - 1);
        first_error_ready_.store(true);
    }
    ++failed_;
}

// Connects, asks for fib(n) and checks the answer; the descriptor, or -1 after counting the
// failure.
int ConnectionThreads::connect_and_ask(std::uint64_t index) {
    const int fd = try_connect_tcp(*config_.server);
    if (fd < 0) {
        fail(index, ConnectionFailure::connect, errno, nullptr);
        return -1;
    }
    const timeval timeout{static_cast<time_t>(config_.reply_timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char reply[128];
    std::size_t got = 0;
    bool ok = write_all(fd, request_, request_len_);
    while (ok && (got == 0 || reply[got - 1] != '\n') && got < sizeof reply - 1) {
        const ssize_t n = read_some(fd, reply + got, sizeof reply - 1 - got);
        if (n <= 0) {
            if (n == 0) errno = ECONNRESET;
            ok = false;
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    if (!ok) {
        fail(index, ConnectionFailure::request, errno, nullptr);
        ::close(fd);
        return -1;
    }
    reply[got] = '\0';
    if (std::strncmp(reply, "error:", 6) == 0) {
        if (got > 0 && reply[got - 1] == '\n') reply[got - 1] = '\0';
        fail(index, ConnectionFailure::refused, 0, reply);
        ::close(fd);
        return -1;
    }
    if (got != expected_len_ || std::memcmp(reply, expected_reply_, got) != 0) {
        fail(index, ConnectionFailure::reply, 0, nullptr);
        ::close(fd);
        return -1;
    }
    return fd;
}

void ConnectionThreads::run_one(std::uint64_t index) {
    int fd = -1;
    if (config_.server) {
        fd = connect_and_ask(index);
        if (fd < 0) return;
    }

    // Dirty the requested stack while the connection is held, one byte a page is enough
    // for the kernel to back each page with real memory.
    if (config_.touch_bytes > 0) {
        auto* region = static_cast<volatile char*>(alloca(config_.touch_bytes));
        const long page = ::sysconf(_SC_PAGESIZE);
        for (std::uint64_t off = 0; off < config_.touch_bytes;
             off += static_cast<std::uint64_t>(page))
            region[off] = 1;
        region[config_.touch_bytes - 1] = 1;
    }

    ++connected_;
    park_until_released(released_);
    if (fd >= 0) ::close(fd);
}

bool ConnectionThreads::wait_settled(std::chrono::nanoseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (settled() < spawned()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void ConnectionThreads::release() {
    release_all(released_);
}

void ConnectionThreads::join() {
    if (joined_) return;
    for (const pthread_t t : threads_) ::pthread_join(t, nullptr);
    joined_ = true;
}

ConnectionErrors ConnectionThreads::errors() const {
    return {connect_errors_.load(), request_errors_.load(), reply_errors_.load(), refused_.load()};
}

FirstError ConnectionThreads::first_error() const {
    if (!first_error_ready_.load()) return {};
    FirstError e = first_error_;
    e.server_said = first_server_said_;
    return e;
}

}  // namespace tp
