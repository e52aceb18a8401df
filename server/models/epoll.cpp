// The epoll model: the article's answer to "tens of thousands of open socket connections".
// One thread -- the one that calls serve() -- watches every socket with epoll and owns nothing
// per client but a small struct: the descriptor, the protocol parser with a line buffer of
// --max-line bytes (128 by default), framing state, a grace deadline, and output only while a
// socket will not take it. fib is computed inline on the loop, as the article's event-driven server
// does; with
// --threshold, n above it goes to forked worker processes so that the loop keeps answering.
//
// Level-triggered, not edge-triggered: the loop reads at most one buffer per connection per
// wake-up, so a client that floods requests shares the thread fairly, and level triggering
// reports the rest next time without the loop having to remember who still has data. It also
// makes pausing a connection (output the client has not read yet, a request at a worker) one
// epoll_ctl that drops EPOLLIN, with nothing to re-discover when it is resumed.
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "acceptor.hpp"
#include "connection.hpp"
#include "fib.hpp"
#include "model.hpp"
#include "net.hpp"
#include "protocol.hpp"
#include "rate_limited_note.hpp"
#include "spam.hpp"
#include "worker_process.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

// What one read takes, as the blocking models and the article's recv(1000) do. It also bounds
// the replies one read can produce (at most ~21 bytes per input byte), which with reading paused
// while output is pending keeps every connection's pending output far below the cap.
constexpr std::size_t kReadSize = 1024;
// A safety net: a connection whose unsent output would pass this is closed.
constexpr std::size_t kMaxPendingOutput = 64 * 1024;
// Out of descriptors, the listener stays readable: it is dropped from the set for this long
// (or until a connection closes and frees a descriptor) instead of spinning.
constexpr auto kAcceptBackOff = std::chrono::milliseconds(50);
constexpr int kMaxEvents = 256;

// See connection.cpp: undecided until a newline (lines from then on) or a grace period that passes
// with unterminated bytes pending (raw from then on). In line mode unterminated bytes that wait
// out the grace are a request too, and a half-close answers what is pending before closing.
enum class Framing : std::uint8_t { undecided, lines, raw };

struct Connection {
    Connection(int socket, std::uint64_t serial, const ProtocolLimits& limits)
        : fd(socket), id(serial), parser(limits) {}

    Fd fd;
    // Descriptors are reused; queued timers and worker jobs name a connection by fd and id.
    std::uint64_t id;
    Clock::time_point grace_deadline{};
    // --idle-timeout: the last complete request or reply progress, and this connection's
    // place in the loop's list ordered by it (IdleList).
    Clock::time_point last_active{};
    Connection* idle_prev = nullptr;
    Connection* idle_next = nullptr;
    std::uint32_t events = 0;  // what epoll watches for it now
    Framing framing = Framing::undecided;
    bool at_worker = false;  // a request is queued for or computing at a worker
    bool closing = false;    // a final error line is on its way; close once it is sent
    bool closed = false;     // gone from the set; the struct lives until the batch ends
    bool peer_done = false;  // the client half-closed: answer what it sent, then close
    std::string out;         // reply bytes the socket did not take yet; empty when idle
    std::string held;        // input after a request at a worker: replies keep their order
    SizedRequestParser parser;
};

// Tags in epoll_event.data: what became ready.
enum class Source : std::uint32_t { listener, stop, timer, worker, connection };

std::uint64_t tag(Source source, std::uint32_t index = 0) {
    return (std::uint64_t{static_cast<std::uint32_t>(source)} << 32) | index;
}

timespec to_timespec(Clock::time_point t) {
    const auto since = t.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
    return {static_cast<time_t>(seconds.count()),
            static_cast<long>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds).count())};
}

bool would_block(int error) {
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

// Whether a read on `fd` would return at once (data or end of stream); guards blocking calls
// against a stale readiness report.
bool ready_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

struct WorkerSlot {
    WorkerProcess process;
    bool busy = false;
    int client_fd = -1;
    std::uint64_t client_id = 0;
};

struct Job {
    int fd;
    std::uint64_t id;
    unsigned n;
};

struct GraceTimer {
    Clock::time_point deadline;
    int fd;
    std::uint64_t id;
};

// Open connections, least recently active first. Every connection has the same idle timeout,
// so the first one is always the next to expire: moving a connection to the back on activity
// and unlinking it on close are O(1), and there is exactly one entry per open connection --
// nothing queued per request, so a busy client cannot grow it.
class IdleList {
  public:
    Connection* oldest() const { return head_; }

    void touch(Connection& c, Clock::time_point now) {
        unlink(c);
        c.last_active = now;
        c.idle_prev = tail_;
        c.idle_next = nullptr;
        if (tail_ != nullptr) tail_->idle_next = &c;
        tail_ = &c;
        if (head_ == nullptr) head_ = &c;
    }

    void unlink(Connection& c) {
        if (c.idle_prev != nullptr) c.idle_prev->idle_next = c.idle_next;
        if (c.idle_next != nullptr) c.idle_next->idle_prev = c.idle_prev;
        if (head_ == &c) head_ = c.idle_next;
        if (tail_ == &c) tail_ = c.idle_prev;
        c.idle_prev = c.idle_next = nullptr;
    }

  private:
    Connection* head_ = nullptr;
    Connection* tail_ = nullptr;
};

class EventLoop {
  public:
    EventLoop(const ServerConfig& config, int listen_fd, int stop_fd)
        : settings_(config.connection),
          threshold_(config.threshold),
          max_connections_(config.max_connections),
          too_many_(too_many_connections_line(config.max_connections)),
          over_capacity_note_(
              fmt::format("refused a connection: too many (max {})", config.max_connections)),
          listen_fd_(listen_fd),
          stop_fd_(stop_fd) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
        timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (!timer_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
        // The listener is non-blocking so that a connection reset between readiness and
        // accept costs an EAGAIN rather than a stalled loop.
        const int flags = ::fcntl(listen_fd_, F_GETFL);
        if (flags < 0 || ::fcntl(listen_fd_, F_SETFL, flags | O_NONBLOCK) < 0)
            throw std::system_error(errno, std::generic_category(), "fcntl O_NONBLOCK on listener");
        watch(listen_fd_, EPOLLIN, tag(Source::listener));
        watch(stop_fd_, EPOLLIN, tag(Source::stop));
        watch(timer_.get(), EPOLLIN, tag(Source::timer));
        if (threshold_ && settings_.handler == Handler::fib) {
            workers_.resize(worker_count(config.workers));
            for (std::uint32_t i = 0; i < workers_.size(); ++i) start_worker(i, true);
        }
    }

    ServeSummary run() {
        std::array<epoll_event, kMaxEvents> events;
        for (;;) {
            arm_timer();
            const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw std::system_error(errno, std::generic_category(), "epoll_wait");
            }
            const auto ready = std::span(events.data(), static_cast<std::size_t>(n));
            // Asked to stop: that comes before everything else that is ready.
            for (const epoll_event& e : ready)
                if (e.data.u64 == tag(Source::stop)) return summary_;
            for (const epoll_event& e : ready) dispatch(e);
            expire(Clock::now());
            // Only now are descriptors closed: until the batch ends, no accept can reuse one
            // that a later event in the same batch still names.
            const bool freed = !dead_.empty();
            dead_.clear();
            if (freed && listener_paused_) resume_accepting();
        }
    }

  private:
    void watch(int fd, std::uint32_t events, std::uint64_t data) {
        epoll_event e{};
        e.events = events;
        e.data.u64 = data;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0)
            throw std::system_error(errno, std::generic_category(), "epoll_ctl add");
    }

    void rewatch(int fd, std::uint32_t events, std::uint64_t data) {
        epoll_event e{};
        e.events = events;
        e.data.u64 = data;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &e);
    }

    void dispatch(const epoll_event& e) {
        const auto source = static_cast<Source>(e.data.u64 >> 32);
        const auto index = static_cast<std::uint32_t>(e.data.u64);
        switch (source) {
            case Source::listener:
                accept_ready();
                return;
            case Source::stop:
                return;
            case Source::timer: {
                std::uint64_t expirations = 0;
                [[maybe_unused]] const ssize_t got =
                    ::read(timer_.get(), &expirations, sizeof expirations);
                return;  // expire() runs after every batch
            }
            case Source::worker:
                on_worker(index);
                return;
            case Source::connection:
                on_connection(static_cast<int>(index), e.events);
                return;
        }
    }

    // ---- accepting ----

    void accept_ready() {
        for (;;) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0 && open_connections_ >= max_connections_) {
                ++summary_.accepted;
                ++summary_.over_capacity;
                over_capacity_note_.record();
                refuse_connection(fd, too_many_);
                ::close(fd);
                continue;
            }
            if (fd >= 0) {
                ++summary_.accepted;
                add_connection(fd);
                if (listener_paused_) return;
                continue;
            }
            switch (classify_accept_failure(errno)) {
                case AcceptFailure::none_left:
                    return;
                case AcceptFailure::retry:
                    continue;
                case AcceptFailure::back_off:
                    pause_accepting(errno);
                    return;
                case AcceptFailure::fatal:
                    throw std::system_error(errno, std::generic_category(), "accept");
            }
        }
    }

    void add_connection(int fd) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::unique_ptr<Connection> c;
        try {
            if (static_cast<std::size_t>(fd) >= by_fd_.size())
                by_fd_.resize(static_cast<std::size_t>(fd) + 1);
            c = std::make_unique<Connection>(fd, ++next_id_, settings_.limits);
        } catch (const std::bad_alloc&) {
            if (!c) ::close(fd);
            pause_accepting(ENOMEM);
            return;
        }
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = tag(Source::connection, static_cast<std::uint32_t>(fd));
        // ENOMEM, or ENOSPC past fs.epoll.max_user_watches: the client is closed, the server
        // waits a little as it does when out of descriptors.
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0) {
            pause_accepting(errno);
            return;  // c closes the descriptor
        }
        c->events = EPOLLIN;
        idle_.touch(*c, Clock::now());
        ++open_connections_;
        by_fd_[static_cast<std::size_t>(fd)] = std::move(c);
    }

    void pause_accepting(int error) {
        resource_note_.record(error);
        if (listener_paused_) return;
        listener_paused_ = true;
        resume_at_ = Clock::now() + kAcceptBackOff;
        rewatch(listen_fd_, 0, tag(Source::listener));
    }

    void resume_accepting() {
        listener_paused_ = false;
        rewatch(listen_fd_, EPOLLIN, tag(Source::listener));
    }

    // ---- connections ----

    Connection* find(int fd, std::uint64_t id) {
        if (fd < 0 || static_cast<std::size_t>(fd) >= by_fd_.size()) return nullptr;
        Connection* c = by_fd_[static_cast<std::size_t>(fd)].get();
        return c != nullptr && c->id == id ? c : nullptr;
    }

    static bool reading(const Connection& c) {
        return !c.at_worker && !c.closing && !c.peer_done && c.out.empty();
    }

    // Once a half-closed client's last request is answered (a worker's reply included), the
    // connection ends the way an error line ends one: after its output is sent.
    void end_if_peer_done(Connection& c) {
        if (!c.peer_done || c.closed || c.at_worker || !c.held.empty()) return;
        c.closing = true;
        if (c.out.empty()) {
            finish_connection(c.fd.get());
            close(c);
        }
    }

    void update_interest(Connection& c) {
        if (c.closed) return;
        const std::uint32_t want =
            (reading(c) ? EPOLLIN : 0u) | (c.out.empty() ? 0u : std::uint32_t{EPOLLOUT});
        if (want == c.events) return;
        c.events = want;
        rewatch(c.fd.get(), want, tag(Source::connection, static_cast<std::uint32_t>(c.fd.get())));
    }

    void close(Connection& c) {
        if (c.closed) return;
        c.closed = true;
        idle_.unlink(c);
        --open_connections_;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
        dead_.push_back(std::move(by_fd_[static_cast<std::size_t>(c.fd.get())]));
    }

    void on_connection(int fd, std::uint32_t events) {
        Connection* c = static_cast<std::size_t>(fd) < by_fd_.size()
                            ? by_fd_[static_cast<std::size_t>(fd)].get()
                            : nullptr;
        if (c == nullptr) return;  // closed earlier in this batch
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && !c->out.empty()) flush(*c);
        if (!c->closed && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && reading(*c)) read_from(*c);
        // Level-triggered HUP/ERR would be reported again and again to a connection that is
        // not reading (its request at a worker): it is over.
        if (!c->closed && (events & (EPOLLERR | EPOLLHUP)) && !reading(*c) && c->out.empty())
            close(*c);
        update_interest(*c);
    }

    void read_from(Connection& c) {
        const ssize_t n = ::recv(c.fd.get(), buffer_.data(), buffer_.size(), 0);
        if (n < 0 && would_block(errno)) return;
        if (n == 0 && settings_.handler == Handler::fib && c.parser.has_pending()) {
            // End of stream with an unterminated request: answered before the close.
            c.peer_done = true;
            answer(c, c.parser.flush_pending());
            end_if_peer_done(c);
            return;
        }
        if (n <= 0) {
            close(c);  // end of stream or reset
            return;
        }
        const std::string_view input(buffer_.data(), static_cast<std::size_t>(n));
        if (settings_.handler == Handler::echo) {
            idle_.touch(c, Clock::now());  // echo has no requests: whatever came is one
            send_bytes(c, input);
        } else {
            feed(c, input);
        }
    }

    // connection.cpp's serve_fib, one read at a time.
    void feed(Connection& c, std::string_view input) {
        while (!input.empty() && !c.closed && !c.closing) {
            if (c.at_worker) {
                c.held.append(input);
                return;
            }
            const SizedRequestParser::Step step = c.parser.consume(input);
            input.remove_prefix(step.taken);
            if (step.event) answer(c, *step.event);
        }
        if (c.closed || c.closing || c.at_worker) return;
        if (c.framing == Framing::undecided && c.parser.seen_newline()) c.framing = Framing::lines;
        if (!c.parser.has_pending()) return;
        if (c.framing == Framing::raw) {
            answer(c, c.parser.flush_pending());
        } else {
            // Every read restarts the wait, as the blocking models' ppoll does.
            c.grace_deadline = Clock::now() + settings_.raw_grace;
            grace_.push_back({c.grace_deadline, c.fd.get(), c.id});
        }
    }

    void answer(Connection& c, const ParseEvent& event) {
        idle_.touch(c, Clock::now());
        if (event.is_request()) {
            if (threshold_ && event.n > *threshold_ && !workers_.empty()) {
                c.at_worker = true;
                jobs_.push_back({c.fd.get(), c.id, event.n});
                run_jobs();
                return;
            }
            send_bytes(c, ReplyLine::result(fib(event.n)).view());
            return;
        }
        // On the loop, like any inline work: every other connection waits until it ends.
        if (event.is_spam()) {
            send_bytes(c, ReplyLine::truth(spam_in_range(event.spam_count)).view());
            return;
        }
        send_bytes(c, ReplyLine::error(event.error, settings_.limits).view());
        if (event.close && !c.closed) {
            c.closing = true;
            if (c.out.empty()) {
                finish_connection(c.fd.get());
                close(c);
            }
        }
    }

    void send_bytes(Connection& c, std::string_view bytes) {
        if (c.closed) return;
        if (c.out.empty()) {
            const ssize_t n = ::send(c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && !would_block(errno)) {
                close(c);
                return;
            }
            if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        if (bytes.empty()) return;
        if (c.out.size() + bytes.size() > kMaxPendingOutput) {
            close(c);
            return;
        }
        c.out.append(bytes);
    }

    void flush(Connection& c) {
        while (!c.out.empty()) {
            const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && would_block(errno)) return;
            if (n < 0) {
                close(c);
                return;
            }
            c.out.erase(0, static_cast<std::size_t>(n));
            idle_.touch(c, Clock::now());  // a client that reads its replies is not idle
        }
        std::string().swap(c.out);  // an idle connection keeps no buffer
        if (c.closing) {
            finish_connection(c.fd.get());
            close(c);
        }
    }

    // ---- timers: the raw grace, the idle timeout and the accept back-off ----

    void expire(Clock::time_point now) {
        while (!grace_.empty() && grace_.front().deadline <= now) {
            const GraceTimer t = grace_.front();
            grace_.pop_front();
            Connection* c = find(t.fd, t.id);
            // Stale unless this is still the connection's latest wait for a newline.
            if (c == nullptr || c->closed || c->closing || c->at_worker ||
                c->grace_deadline != t.deadline || c->framing == Framing::raw ||
                !c->parser.has_pending())
                continue;
            if (c->framing == Framing::undecided) c->framing = Framing::raw;
            answer(*c, c->parser.flush_pending());
            update_interest(*c);
        }
        if (settings_.idle_timeout > std::chrono::nanoseconds::zero()) {
            while (Connection* c = idle_.oldest()) {
                if (c->last_active + settings_.idle_timeout > now) break;
                // Waiting for a worker is the server's time, not the client's silence.
                if (c->at_worker)
                    idle_.touch(*c, now);
                else
                    close(*c);
            }
        }
        if (listener_paused_ && now >= resume_at_) resume_accepting();
    }

    // One timerfd wakes the loop for the earliest deadline. The raw grace is the same for every
    // connection, so deadlines are queued in the order they fall: a deque, not a heap. (A
    // re-armed wait leaves its old entry behind, skipped as stale; at most max_line of them per
    // connection, since every re-arm takes a byte of an unterminated line.)
    void arm_timer() {
        std::optional<Clock::time_point> next;
        if (!grace_.empty()) next = grace_.front().deadline;
        if (const Connection* c = idle_.oldest();
            c != nullptr && settings_.idle_timeout > std::chrono::nanoseconds::zero()) {
            const Clock::time_point idle_end = c->last_active + settings_.idle_timeout;
            if (!next || idle_end < *next) next = idle_end;
        }
        if (listener_paused_ && (!next || resume_at_ < *next)) next = resume_at_;
        if (next == armed_) return;
        armed_ = next;
        itimerspec spec{};
        if (next) {
            spec.it_value = to_timespec(*next);
            // All zeros would disarm it; a deadline at the clock's epoch is long past anyway.
            if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
        }
        if (::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
            throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    }

    // ---- workers (--threshold) ----

    // At start-up a worker that cannot be forked is a set-up failure; later the slot stays
    // empty and is tried again when there is work for it.
    bool start_worker(std::uint32_t i, bool at_startup) {
        WorkerSlot& slot = workers_[i];
        if (slot.process) {
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, slot.process.fd(), nullptr);
            slot.process.stop();
        }
        slot.busy = false;
        try {
            slot.process = WorkerProcess::spawn();
            watch(slot.process.fd(), EPOLLIN, tag(Source::worker, i));
            return true;
        } catch (const std::system_error& e) {
            if (at_startup) throw;
            slot.process.stop();
            worker_note_.record(e.code().value());
            return false;
        }
    }

    void run_jobs() {
        for (std::uint32_t i = 0; i < workers_.size() && !jobs_.empty(); ++i) {
            WorkerSlot& slot = workers_[i];
            if (slot.busy) continue;
            if (!slot.process && !start_worker(i, false)) continue;
            while (!jobs_.empty() && !slot.busy) {
                const Job job = jobs_.front();
                jobs_.pop_front();
                Connection* c = find(job.fd, job.id);
                if (c == nullptr || c->closed) continue;  // its client left while it waited
                if (!slot.process.send(job.n)) {
                    start_worker(i, false);
                    finish_job(*c, std::nullopt);
                    if (!slot.process) break;
                    continue;
                }
                slot.busy = true;
                slot.client_fd = job.fd;
                slot.client_id = job.id;
            }
        }
        // No worker could be started at all: the loop computes, slowly but correctly.
        const bool any_alive = std::any_of(workers_.begin(), workers_.end(),
                                           [](const WorkerSlot& s) { return bool(s.process); });
        while (!any_alive && !jobs_.empty()) {
            const Job job = jobs_.front();
            jobs_.pop_front();
            if (Connection* c = find(job.fd, job.id); c != nullptr && !c->closed)
                finish_job(*c, fib(job.n));
        }
    }

    void on_worker(std::uint32_t i) {
        WorkerSlot& slot = workers_[i];
        if (!slot.process || !ready_now(slot.process.fd())) return;  // stale report
        if (!slot.busy) {
            // Readable with nothing asked: it died (end of stream). Replace it.
            start_worker(i, false);
            run_jobs();
            return;
        }
        const std::optional<std::uint64_t> value = slot.process.receive();
        slot.busy = false;
        Connection* c = find(slot.client_fd, slot.client_id);
        if (!value) start_worker(i, false);
        if (c != nullptr && !c->closed) finish_job(*c, value);
        run_jobs();
    }

    void finish_job(Connection& c, std::optional<std::uint64_t> value) {
        c.at_worker = false;
        idle_.touch(c, Clock::now());  // the client's silence counts from its reply
        send_bytes(c, value
                          ? ReplyLine::result(*value).view()
                          : ReplyLine::error(RequestError::worker_failed, settings_.limits).view());
        // What arrived behind the request, in order; may send the next one to a worker.
        const std::string held = std::exchange(c.held, std::string());
        feed(c, held);
        if (c.peer_done && !c.at_worker && c.parser.has_pending())
            answer(c, c.parser.flush_pending());
        end_if_peer_done(c);
        update_interest(c);
    }

    ConnectionSettings settings_;
    std::optional<unsigned> threshold_;
    std::uint64_t max_connections_;
    std::string too_many_;
    RateLimitedNote over_capacity_note_;
    std::uint64_t open_connections_ = 0;
    IdleList idle_;
    int listen_fd_;
    int stop_fd_;
    Fd epoll_;
    Fd timer_;
    ServeSummary summary_;

    std::vector<std::unique_ptr<Connection>> by_fd_;
    std::vector<std::unique_ptr<Connection>> dead_;  // closed this batch
    std::uint64_t next_id_ = 0;
    std::array<char, kReadSize> buffer_{};

    std::deque<GraceTimer> grace_;
    std::optional<Clock::time_point> armed_;
    bool listener_paused_ = false;
    Clock::time_point resume_at_{};
    RateLimitedNote resource_note_{"accept (backing off)"};

    std::vector<WorkerSlot> workers_;
    std::deque<Job> jobs_;
    RateLimitedNote worker_note_{"cannot start a worker process"};
};

class EpollModel final : public Model {
  public:
    explicit EpollModel(const ServerConfig& config) : config_(config) {}

    ServeSummary serve(int listen_fd, int stop_fd) override {
        // Workers are forked here, by the thread that serves: PR_SET_PDEATHSIG ties them to it.
        EventLoop loop(config_, listen_fd, stop_fd);
        return loop.run();
    }

  private:
    ServerConfig config_;
};

}  // namespace

std::unique_ptr<Model> make_epoll_model(const ServerConfig& config) {
    return std::make_unique<EpollModel>(config);
}

}  // namespace tp
