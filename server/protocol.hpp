// The wire protocol, as pure logic: bytes in, requests or errors out, reply lines formatted
// into fixed buffers. No sockets here (connection.cpp drives it) and no heap: it runs in
// connection threads whose whole budget is a small stack (see models/threads.cpp).
//
// A request is an ASCII decimal n ended by '\n'; "\r\n" and blanks around the number are
// tolerated, as Python's int() tolerates them. The reply is fib(n) and '\n'. One more request,
// "spam N", is the article's uninterruptible instruction ('spam' in range(N)): one long
// operation that never lets anyone else in (spam.hpp); its reply is "False\n". Bad input gets
// one line "error: <reason>\n" and the connection stays usable, except for a line longer than
// the limit, after which the connection is closed (its end cannot be trusted to come).
// Requests without a newline (the article's perf1.py sends b'30' and waits) are the
// connection's business: the parser only says that unterminated bytes are pending and can
// flush them as a request.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace tp {

// What a connection does with the bytes it reads.
enum class Handler : std::uint8_t {
    fib,   // the protocol above
    echo,  // the article's first server: bytes go back as they come
};
std::optional<Handler> parse_handler(std::string_view name);
std::string_view handler_name(Handler handler);

// --max-line may not exceed this: the pending line lives in a buffer of this size on the
// connection thread's stack, so that no client can make the server allocate.
inline constexpr std::size_t kLineCapacity = 1024;

struct ProtocolLimits {
    unsigned max_n = 47;         // one request takes seconds, not hours
    std::size_t max_line = 128;  // bytes before the '\n', '\r' and blanks included
    // The largest N of "spam N": about 7 s in native code, 35 s or more in CPython.
    std::uint64_t max_spam = kDefaultMaxSpam;

    static constexpr std::uint64_t kDefaultMaxSpam = 1'000'000'000;
};

enum class RequestError : std::uint8_t {
    not_a_number,
    negative,
    above_max_n,
    empty,
    too_long,  // closes the connection
    above_max_spam,
    worker_failed,  // pool models: the worker process died computing it; the pool replaced it
};

// What a complete line (or a flushed unterminated request) amounts to.
struct ParseEvent {
    enum class Kind : std::uint8_t { request, spam, error };
    Kind kind = Kind::request;
    unsigned n = 0;                            // for requests
    RequestError error = RequestError::empty;  // for errors
    bool close = false;                        // reply, then close the connection
    std::uint64_t spam_count = 0;              // for spam: N of 'spam' in range(N)

    static ParseEvent request(unsigned n) { return {Kind::request, n, RequestError::empty, false}; }
    static ParseEvent spam(std::uint64_t count) {
        return {Kind::spam, 0, RequestError::empty, false, count};
    }
    static ParseEvent failure(RequestError e) {
        return {Kind::error, 0, e, e == RequestError::too_long};
    }
    bool is_request() const { return kind == Kind::request; }
    bool is_spam() const { return kind == Kind::spam; }
};

// One line's worth of text, without its '\n', to a request or an error. Any max_n (and
// max_spam) is honoured exactly, however many digits the line has.
ParseEvent parse_request(std::string_view line, unsigned max_n,
                         std::uint64_t max_spam = ProtocolLimits::kDefaultMaxSpam);

// Where a parser keeps the line it has not seen the end of. A connection thread's parser holds
// kLineCapacity bytes inline, on its stack: no heap, whose per-thread arena would cost more than
// the thread. The event loop's parsers live on the heap, one per connection, so theirs is sized
// to --max-line instead (128 bytes by default, not 1 KiB).
class InlineLine {
  public:
    explicit InlineLine(std::size_t /*max_line*/) {}
    char* data() { return bytes_.data(); }
    const char* data() const { return bytes_.data(); }

  private:
    std::array<char, kLineCapacity> bytes_;
};

class SizedLine {
  public:
    explicit SizedLine(std::size_t max_line) : bytes_(new char[max_line]) {}
    char* data() { return bytes_.get(); }
    const char* data() const { return bytes_.get(); }

  private:
    std::unique_ptr<char[]> bytes_;
};

// Splits a byte stream into lines, holding at most max_line bytes of an unterminated one.
template <typename Line>
class BasicRequestParser {
  public:
    // Throws std::invalid_argument if the limits are outside what the parser can hold
    // (max_n above kFibMaxN, max_line 0 or above kLineCapacity).
    explicit BasicRequestParser(const ProtocolLimits& limits);

    struct Step {
        std::size_t taken = 0;            // bytes consumed from the front of the input
        std::optional<ParseEvent> event;  // set when they completed a line or broke the limit
    };
    // Takes bytes up to and including the first '\n' (all of `input` if it has none). Feed the
    // rest of the input again until it is empty: one segment may hold several requests. Once an
    // event asked to close, it takes everything and reports nothing more.
    Step consume(std::string_view input);

    // Bytes of a line whose '\n' has not arrived yet.
    bool has_pending() const { return length_ > 0; }
    // Treats the pending bytes as a complete request, as the article's server treats whatever
    // one recv() returned. Requires has_pending().
    ParseEvent flush_pending();

    // Whether any '\n' has been seen on this connection.
    bool seen_newline() const { return seen_newline_; }
    bool closed() const { return closed_; }

  private:
    ProtocolLimits limits_;
    Line line_;
    std::size_t length_ = 0;
    bool seen_newline_ = false;
    bool closed_ = false;
};

// A connection thread's (and a test's) parser, and the event loop's.
using RequestParser = BasicRequestParser<InlineLine>;
using SizedRequestParser = BasicRequestParser<SizedLine>;
extern template class BasicRequestParser<InlineLine>;
extern template class BasicRequestParser<SizedLine>;

// A reply line built in place; big enough for every reply this protocol sends.
class ReplyLine {
  public:
    std::string_view view() const { return {text_.data(), size_}; }

    static ReplyLine result(std::uint64_t value);  // "55\n"
    static ReplyLine truth(bool value);  // "True\n", "False\n": Python's spelling, for spam
    static ReplyLine error(RequestError error, const ProtocolLimits& limits);  // "error: ...\n"

  private:
    void append(std::string_view s);
    void append(std::uint64_t value);

    std::array<char, 64> text_{};
    std::size_t size_ = 0;
};

}  // namespace tp
