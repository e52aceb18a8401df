#include "connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <optional>
#include <string_view>

#include "fib.hpp"
#include "net.hpp"
#include "spam.hpp"

namespace tp {
namespace {

// About what the article's server reads at a time (recv(1000)); lives on the thread's stack.
constexpr std::size_t kReadBufferSize = 1024;

enum class Wait { readable, timed_out, stop, failed };

// Waits until `fd` has data (or end of stream), `stop_fd` (if >= 0) fires, or `timeout` (if
// given) passes. ppoll rather than poll: --raw-grace may be finer than a millisecond.
Wait wait_readable(int fd, int stop_fd, const timespec* timeout) {
    std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}}};
    const nfds_t count = stop_fd >= 0 ? 2 : 1;
    for (;;) {
        const int rc = ::ppoll(fds.data(), count, timeout, nullptr);
        // Rare (the stop signals are blocked and read from a signalfd); restarting the grace
        // after one is harmless.
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return Wait::failed;
        if (rc == 0) return Wait::timed_out;
        if (count == 2 && fds[1].revents != 0) return Wait::stop;
        return Wait::readable;
    }
}

timespec to_timespec(std::chrono::nanoseconds d) {
    if (d < std::chrono::nanoseconds::zero()) d = std::chrono::nanoseconds::zero();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(d);
    return {static_cast<time_t>(seconds.count()), static_cast<long>((d - seconds).count())};
}

using Clock = std::chrono::steady_clock;

// --idle-timeout: when the connection is closed unless a request completes first.
class IdleDeadline {
  public:
    explicit IdleDeadline(std::chrono::nanoseconds timeout) : timeout_(timeout) { restart(); }

    bool on() const { return timeout_ > std::chrono::nanoseconds::zero(); }
    void restart() {
        if (on()) at_ = Clock::now() + timeout_;
    }
    Clock::time_point at() const { return at_; }
    bool passed() const { return on() && Clock::now() >= at_; }

  private:
    std::chrono::nanoseconds timeout_;
    Clock::time_point at_{};
};

// Waits for input until `idle` passes (if on) or, when given, until `grace` after now.
// timed_out means one of the two passed: the caller asks `idle` which.
Wait wait_for_input(int fd, int stop_fd, const IdleDeadline& idle,
                    std::optional<std::chrono::nanoseconds> grace) {
    if (!idle.on() && !grace) return wait_readable(fd, stop_fd, nullptr);
    const Clock::time_point now = Clock::now();
    Clock::time_point until = grace ? now + *grace : idle.at();
    if (idle.on() && idle.at() < until) until = idle.at();
    const timespec timeout = to_timespec(until - now);
    return wait_readable(fd, stop_fd, &timeout);
}

void serve_echo(int fd, int stop_fd, std::chrono::nanoseconds idle_timeout) {
    std::array<char, kReadBufferSize> buffer;
    IdleDeadline idle(idle_timeout);
    for (;;) {
        if (stop_fd >= 0 || idle.on()) {
            if (wait_for_input(fd, stop_fd, idle, std::nullopt) != Wait::readable) return;
        }
        const ssize_t n = read_some(fd, buffer.data(), buffer.size());
        if (n <= 0 || !write_all(fd, buffer.data(), static_cast<std::size_t>(n))) return;
        idle.restart();  // echo has no requests: whatever came is one
    }
}

// The span of one blocking call: the model's lock (if any) is released meanwhile.
class Blocking {
  public:
    explicit Blocking(const ConnectionHooks& hooks) : hooks_(hooks) {
        if (hooks_.release) hooks_.release(hooks_.context);
    }
    ~Blocking() {
        if (hooks_.reacquire) hooks_.reacquire(hooks_.context);
    }
    Blocking(const Blocking&) = delete;
    Blocking& operator=(const Blocking&) = delete;

  private:
    const ConnectionHooks& hooks_;
};

// The whole connection holds the model's lock except inside Blocking spans.
class Holding {
  public:
    explicit Holding(const ConnectionHooks& hooks) : hooks_(hooks) {
        if (hooks_.reacquire) hooks_.reacquire(hooks_.context);
    }
    ~Holding() {
        if (hooks_.release) hooks_.release(hooks_.context);
    }
    Holding(const Holding&) = delete;
    Holding& operator=(const Holding&) = delete;

  private:
    const ConnectionHooks& hooks_;
};

ReplyLine reply_to(const ParseEvent& event, const ConnectionSettings& settings) {
    // Inline, holding whatever the connection holds (the gil model's lock) and checking
    // nothing: that is the instruction's point.
    if (event.is_spam()) return ReplyLine::truth(spam_in_range(event.spam_count));
    if (!event.is_request()) return ReplyLine::error(event.error, settings.limits);
    const ConnectionHooks& hooks = settings.hooks;
    if (!hooks.compute) return ReplyLine::result(fib(event.n));
    std::uint64_t value = 0;
    if (!hooks.compute(hooks.context, event.n, value))
        return ReplyLine::error(RequestError::worker_failed, settings.limits);
    return ReplyLine::result(value);
}

// Replies to one event; false when the connection is over.
bool answer(int fd, const ParseEvent& event, const ConnectionSettings& settings) {
    const ReplyLine reply = reply_to(event, settings);
    const Blocking blocking(settings.hooks);
    return write_all(fd, reply.view()) && !event.close;
}

// Unterminated requests. The article's clients never send a newline: perf1.py sends b'30' and
// waits for the answer, perf2.py sends b'1' as fast as it gets answers, and the Python server
// treats whatever one recv() returned as one number. nc and telnet send lines, which TCP may
// split anywhere ("3" then "0\n" must be 30). Both are served by this policy:
//  - a connection starts undecided. When a read leaves unterminated bytes and nothing more
//    arrives within --raw-grace, they are a complete request, and the connection switches to
//    raw mode: from then on, the unterminated tail of every read is a request at once, exactly
//    like the Python server. The article's clients pay the grace once, on their first request.
//  - a connection that sends a newline while undecided is in line mode: unterminated bytes wait
//    --raw-grace for their newline (a split segment's tail arrives far sooner), and are a
//    request if it does not come, so "10\n" then "20" is answered twice; the connection stays
//    in line mode.
//  - a client that half-closes (nc -q1, a script's shutdown(SHUT_WR)) with unterminated bytes
//    pending gets their answer before the server closes: no request is silently dropped.
// Complete lines are lines in every mode, so "10\n20\n" in one segment is two requests.
enum class Framing { undecided, lines, raw };

void serve_fib(int fd, const ConnectionSettings& settings, int stop_fd) {
    RequestParser parser(settings.limits);
    std::array<char, kReadBufferSize> buffer;
    Framing framing = Framing::undecided;
    IdleDeadline idle(settings.idle_timeout);
    // Every reply restarts the idle clock: it measures the client's silence, not fib's work.
    auto respond = [&](const ParseEvent& event) {
        const bool go_on = answer(fd, event, settings);
        idle.restart();
        return go_on;
    };

    for (;;) {
        // In raw mode a read's unterminated tail is answered at once, so nothing is pending.
        const bool awaiting_newline = parser.has_pending();
        Wait w = Wait::readable;
        ssize_t n = 0;
        {
            // The wait and the read are one blocking span: under the gil model each span ends
            // waiting for the lock, and a request must cost the same hand-overs with or without
            // a timeout to wait for.
            const Blocking blocking(settings.hooks);
            if (awaiting_newline || stop_fd >= 0 || idle.on())
                w = wait_for_input(
                    fd, stop_fd, idle,
                    awaiting_newline ? std::optional(settings.raw_grace) : std::nullopt);
            if (w == Wait::readable) n = read_some(fd, buffer.data(), buffer.size());
        }
        if (w == Wait::timed_out && idle.passed()) return;
        if (w == Wait::timed_out) {
            if (framing == Framing::undecided) framing = Framing::raw;
            if (!respond(parser.flush_pending())) return;
            continue;
        }
        // End of stream: the client is done sending, but may still be reading.
        if (w == Wait::readable && n == 0 && parser.has_pending()) {
            respond(parser.flush_pending());
            return;
        }
        if (w != Wait::readable || n <= 0) return;
        std::string_view input(buffer.data(), static_cast<std::size_t>(n));
        while (!input.empty()) {
            const RequestParser::Step step = parser.consume(input);
            input.remove_prefix(step.taken);
            if (step.event && !respond(*step.event)) {
                if (step.event->close) finish_connection(fd);
                return;
            }
        }
        if (framing == Framing::undecided && parser.seen_newline()) framing = Framing::lines;
        if (framing == Framing::raw && parser.has_pending() && !respond(parser.flush_pending()))
            return;
    }
}

}  // namespace

void finish_connection(int fd) {
    std::array<char, kReadBufferSize> scratch;
    ::shutdown(fd, SHUT_WR);
    for (int i = 0; i < 16; ++i) {
        if (::recv(fd, scratch.data(), scratch.size(), MSG_DONTWAIT) <= 0) break;
    }
}

void refuse_connection(int fd, std::string_view line) {
    write_all(fd, line);
    finish_connection(fd);
}

void serve_connection(int fd, const ConnectionSettings& settings, int stop_fd) {
    if (settings.idle_timeout > std::chrono::nanoseconds::zero()) {
        // A reply the client leaves unread blocks its write; that is idleness too.
        const timespec limit = to_timespec(settings.idle_timeout);
        const timeval send_timeout{limit.tv_sec, limit.tv_nsec / 1000};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    }
    switch (settings.handler) {
        case Handler::fib: {
            const Holding holding(settings.hooks);
            serve_fib(fd, settings, stop_fd);
            return;
        }
        case Handler::echo:
            serve_echo(fd, stop_fd, settings.idle_timeout);
            return;
    }
}

}  // namespace tp
