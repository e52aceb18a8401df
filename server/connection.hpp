// One client's conversation: reads, replies, and the policy for requests that never get a
// newline. Runs in every connection thread, so it uses only its own stack (about 2.5 KiB,
// fixed: a read buffer and the parser's line), never the heap, and reports failure by simply
// returning: a peer that vanished ends its connection, nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "protocol.hpp"

namespace tp {

// How a model changes a connection's work without its own copy of the conversation: plain
// function pointers and a context the model keeps alive, so the settings stay trivially
// copyable and a connection thread stays off the heap. All null: fib inline, nothing around
// blocking calls (the threads and iterative models).
struct ConnectionHooks {
    // Computes fib(n) in place of the inline call, e.g. in a worker process; false when it
    // could not (the client gets "error: worker failed" and the connection goes on).
    bool (*compute)(void* context, unsigned n, std::uint64_t& value) = nullptr;
    // Around every call that may block (poll, read, write): `release` before, `reacquire`
    // after. The connection also calls `reacquire` when it starts and `release` when it ends,
    // so between blocking calls it holds whatever they stand for (the gil model's lock).
    void (*release)(void* context) = nullptr;
    void (*reacquire)(void* context) = nullptr;
    void* context = nullptr;
};

// Everything a connection needs, small and trivially copyable so that a connection thread can
// keep its own copy on its stack (models/threads.cpp explains why).
struct ConnectionSettings {
    Handler handler = Handler::fib;
    ProtocolLimits limits;
    // How long unterminated bytes wait for their '\n' before they count as a request.
    std::chrono::nanoseconds raw_grace = std::chrono::milliseconds(50);
    // A connection that completes no request for this long, or whose replies make no progress
    // into a client that does not read, is closed; zero = never. Trickled bytes do not count:
    // only a complete request (or a reply going out) restarts the clock.
    std::chrono::nanoseconds idle_timeout{};
    ConnectionHooks hooks;
};

// Serves the client on `fd` until it closes, a write fails, a line is too long, or `stop_fd`
// (when >= 0) becomes readable. Does not close `fd`.
void serve_connection(int fd, const ConnectionSettings& settings, int stop_fd = -1);

// Sends `line` (an "error: ..." line) to a connection the server will not serve, then
// finish_connection(). Never blocks for long: a new connection's send buffer is empty.
void refuse_connection(int fd, std::string_view line);

// For a connection the server ends after a final error line: stops sending and reads what the
// client has already sent, so that close() sends a FIN rather than the RST that unread data
// causes (an RST can discard the error line before the client reads it). Reads only what has
// arrived, so it never waits.
void finish_connection(int fd);

}  // namespace tp
