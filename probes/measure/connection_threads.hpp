// The threads threadprobe and limitprobe measure: each one connects to the server, makes one
// request, dirties part of its stack if asked, and holds its connection until released.
// Without a server, a thread only parks: the cost of the thread alone.
// Their bodies never touch the heap: a thread that calls malloc gets a glibc arena (64 MiB of
// address space), which would swamp the per-thread cost this exists to measure.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net.hpp"

namespace tp {

struct ConnectionThreadConfig {
    std::optional<Endpoint> server;      // nullopt: threads park without a connection
    unsigned request_n = 10;             // each thread asks for fib(request_n)
    std::optional<std::uint64_t> stack;  // pthread stack size; nullopt = system default
    std::uint64_t touch_bytes = 0;       // stack each thread dirties while it holds
    // A server that accepts but never answers must not hang the probe: the request fails.
    std::chrono::seconds reply_timeout{30};
};

// How a connection thread's attempt went wrong: the step that failed, or the server's refusal.
// The first occurrence is kept for the report.
enum class ConnectionFailure { none, connect, request, reply, refused };
const char* connection_failure_name(ConnectionFailure f);

struct FirstError {
    ConnectionFailure failure = ConnectionFailure::none;
    int error = 0;             // errno, where there is one
    std::uint64_t thread = 0;  // index of the thread that saw it
    std::string server_said;   // the server's "error: ..." line, when it refused
};

// Error counters summed over threads, wrk-style: a run reports them rather than aborting.
struct ConnectionErrors {
    std::uint64_t connect = 0;
    std::uint64_t request = 0;  // send or receive failed
    std::uint64_t reply = 0;    // a reply that was not fib(n)
    std::uint64_t refused =
        0;  // the server answered "error: ..." (e.g. it could not make a thread)
    std::uint64_t total() const { return connect + request + reply + refused; }
};

// Owns the threads. Spawn them one at a time; each reports back when its connection is up
// (or has failed); release() lets them all close and exit.
class ConnectionThreads {
  public:
    explicit ConnectionThreads(ConnectionThreadConfig config);
    ~ConnectionThreads();  // releases and joins
    ConnectionThreads(const ConnectionThreads&) = delete;
    ConnectionThreads& operator=(const ConnectionThreads&) = delete;

    // 0 or the pthread_create error (EAGAIN, ...). Never throws once constructed.
    int spawn_one();
    std::uint64_t spawned() const { return threads_.size(); }
    // Threads whose connection is up and answered.
    std::uint64_t connected() const { return connected_.load(); }
    // Threads that have finished trying (connected or failed).
    std::uint64_t settled() const { return connected_.load() + failed_.load(); }
    std::uint64_t failed() const { return failed_.load(); }
    // Waits up to `timeout` for every spawned thread to settle; false on timeout.
    bool wait_settled(std::chrono::nanoseconds timeout) const;

    void release();
    void join();

    ConnectionErrors errors() const;
    FirstError first_error() const;

  private:
    static void* thread_main(void* self);
    void run_one(std::uint64_t index);
    int connect_and_ask(std::uint64_t index);
    void fail(std::uint64_t index, ConnectionFailure failure, int error, const char* server_said);

    ConnectionThreadConfig config_;
    char request_[24] = {};
    std::size_t request_len_ = 0;
    char expected_reply_[24] = {};
    std::size_t expected_len_ = 0;

    pthread_attr_t attr_{};
    std::vector<pthread_t> threads_;
    std::atomic<std::uint64_t> next_index_{0};
    std::atomic<std::uint64_t> connected_{0};
    std::atomic<std::uint64_t> failed_{0};
    // A futex word, 0 until release(): thousands of threads park on it straight in the kernel.
    std::atomic<std::uint32_t> released_{0};
    bool joined_ = false;

    std::atomic<std::uint64_t> connect_errors_{0}, request_errors_{0}, reply_errors_{0},
        refused_{0};
    std::atomic<bool> first_error_taken_{false};
    FirstError first_error_;  // written once, by whoever takes first_error_taken_
    char first_server_said_[128] = {};
    std::atomic<bool> first_error_ready_{false};
};

}  // namespace tp
