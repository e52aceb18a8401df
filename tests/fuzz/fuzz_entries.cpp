#include "fuzz_entries.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/any.hpp>
#include <cctype>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "fib.hpp"
#include "net.hpp"
#include "protocol.hpp"
#include "units.hpp"

namespace tp::fuzz {
namespace {

std::string_view as_text(Input input) {
    return {reinterpret_cast<const char*>(input.data()), input.size()};
}

// Inputs are arbitrary bytes: quoted with escapes and cut short, so a report stays one line.
std::string quoted(std::string_view text) {
    constexpr std::size_t kShown = 96;
    std::string out = "\"";
    for (const char c : text.substr(0, kShown)) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\')
            out += fmt::format("\\{}", c);
        else if (byte >= 0x20 && byte < 0x7f)
            out += c;
        else
            out += fmt::format("\\x{:02x}", byte);
    }
    out += text.size() > kShown ? fmt::format("\"... ({} bytes)", text.size()) : "\"";
    return out;
}

// Called as `if (!holds) fail(...)`: the message quotes the input, which is too dear to build
// for every check that passes.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> what, Args&&... args) {
    throw InvariantViolation(fmt::format(what, std::forward<Args>(args)...));
}

// The blanks the protocol strips around a number (Python's str.strip(), ASCII part) and the
// ones the unit parsers strip (C's isspace in the "C" locale): the same six characters.
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    return text;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Decimal digits to a number, or nothing when it does not fit 64 bits.
std::optional<std::uint64_t> decimal(std::string_view digits) {
    std::uint64_t value = 0;
    for (const char c : digits) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

// ---- the wire protocol ----------------------------------------------------------------------

std::string describe(const ParseEvent& e) {
    if (e.is_request()) return fmt::format("request n={}", e.n);
    return fmt::format("error {}{}", static_cast<int>(e.error), e.close ? " (close)" : "");
}

bool same(const ParseEvent& a, const ParseEvent& b) {
    if (a.kind != b.kind || a.close != b.close) return false;
    if (a.is_spam()) return a.spam_count == b.spam_count;
    return a.is_request() ? a.n == b.n : a.error == b.error;
}

// Python's int() on the line, then the protocol's limits, digit by digit without ever
// overflowing: written to be obviously right, not fast.
ParseEvent reference_request(std::string_view line, std::uint64_t max_n) {
    line = trimmed(line);
    if (line.empty()) return ParseEvent::failure(RequestError::empty);
    // "spam N", the uninterruptible instruction: the word, blanks, N (fuzzed lines that begin
    // so are few, but the corpus has them).
    if (line.size() > 4 && line.substr(0, 4) == "spam" && trimmed(line.substr(4, 1)).empty()) {
        const std::string_view count = trimmed(line.substr(4));
        if (count.empty() || !std::all_of(count.begin(), count.end(), is_digit))
            return ParseEvent::failure(RequestError::not_a_number);
        const std::optional<std::uint64_t> value = decimal(count);
        if (!value || *value > ProtocolLimits::kDefaultMaxSpam)
            return ParseEvent::failure(RequestError::above_max_spam);
        return ParseEvent::spam(*value);
    }
    bool negative = false;
    if (line.front() == '+' || line.front() == '-') {
        negative = line.front() == '-';
        line.remove_prefix(1);
    }
    if (line.empty() || !std::all_of(line.begin(), line.end(), is_digit))
        return ParseEvent::failure(RequestError::not_a_number);
    const std::optional<std::uint64_t> value = decimal(line);
    const bool zero = value && *value == 0;
    if (negative && !zero) return ParseEvent::failure(RequestError::negative);
    if (!value || *value > max_n) return ParseEvent::failure(RequestError::above_max_n);
    return ParseEvent::request(static_cast<unsigned>(*value));
}

void check_reply_lines(const ParseEvent& event, const ProtocolLimits& limits) {
    const ReplyLine reply = event.is_spam()      ? ReplyLine::truth(false)
                            : event.is_request() ? ReplyLine::result(event.n)
                                                 : ReplyLine::error(event.error, limits);
    const std::string_view text = reply.view();
    if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1)
        fail("reply {} to {} is not one whole line", quoted(text), describe(event));
    const bool well_formed =
        event.is_request() ? text == fmt::format("{}\n", event.n) : text.starts_with("error: ");
    if (!well_formed) fail("reply {} to {}", quoted(text), describe(event));
}

// How a connection reads: the events it acts on, in order.
struct Framing {
    bool raw = false;  // the unterminated tail of every segment is a request at once
};

// The stream as the reference reads it: '\n'-terminated lines, a line longer than max_line is
// fatal, and unterminated bytes count as a request at the end of every segment (raw) or only at
// the end of the stream (the grace timer of a connection that went quiet).
std::vector<ParseEvent> reference_stream(const std::vector<std::string_view>& segments,
                                         const ProtocolLimits& limits, Framing framing) {
    std::vector<ParseEvent> events;
    std::string pending;
    const auto too_long = [&] {
        events.push_back(ParseEvent::failure(RequestError::too_long));
        return events;
    };
    for (std::size_t i = 0; i < segments.size(); ++i) {
        pending += segments[i];
        std::size_t newline = 0;
        while ((newline = pending.find('\n')) != std::string::npos) {
            if (newline > limits.max_line) return too_long();
            events.push_back(
                reference_request(std::string_view(pending).substr(0, newline), limits.max_n));
            pending.erase(0, newline + 1);
        }
        if (pending.size() > limits.max_line) return too_long();
        const bool last = i + 1 == segments.size();
        if (!pending.empty() && (framing.raw || last)) {
            events.push_back(reference_request(pending, limits.max_n));
            pending.clear();
        }
    }
    return events;
}

// The same through RequestParser, driven the way connection.cpp drives it, checking every step.
std::vector<ParseEvent> parsed_stream(const std::vector<std::string_view>& segments,
                                      const ProtocolLimits& limits, Framing framing) {
    RequestParser parser(limits);
    std::vector<ParseEvent> events;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        std::string_view input = segments[i];
        while (!input.empty()) {
            const bool was_closed = parser.closed();
            const RequestParser::Step step = parser.consume(input);
            if (step.taken == 0 || step.taken > input.size())
                fail("consume took {} of {} bytes", step.taken, input.size());
            if (was_closed && (step.event || step.taken != input.size()))
                fail("a closed parser still reads requests");
            input.remove_prefix(step.taken);
            if (!step.event) continue;
            if (step.event->is_request() && step.event->n > limits.max_n)
                fail("request n={} above max_n={}", step.event->n, limits.max_n);
            if (step.event->close != parser.closed()) fail("close and closed() disagree");
            events.push_back(*step.event);
        }
        const bool last = i + 1 == segments.size();
        if (parser.has_pending() && (framing.raw || last)) events.push_back(parser.flush_pending());
        if (parser.closed() && parser.has_pending()) fail("a closed parser holds bytes");
    }
    return events;
}

// Ways a stream reaches the parser: in one read, in pieces of a few bytes (nc over a slow link),
// and in uneven pieces that cut lines anywhere. The cuts are drawn from the stream's length, so
// a reproducer replays exactly. (A byte a read finds nothing the few-byte pieces miss, at four
// times the cost.)
std::vector<std::vector<std::string_view>> splits(std::string_view stream) {
    std::vector<std::vector<std::string_view>> ways(3);
    ways[0].push_back(stream);
    std::uint32_t state = static_cast<std::uint32_t>(stream.size()) * 2654435761u + 1;
    const auto cut = [&](std::vector<std::string_view>& pieces, std::uint32_t longest) {
        for (std::size_t at = 0; at < stream.size();) {
            state = state * 1664525u + 1013904223u;
            const std::size_t piece = 1 + (state >> 16) % longest;
            pieces.push_back(stream.substr(at, piece));
            at += piece;
        }
    };
    cut(ways[1], 8);
    cut(ways[2], 200);
    return ways;
}

}  // namespace

void request_stream(Input input) {
    const std::string_view stream = as_text(input);
    // fibserver's defaults, the largest limits the options allow, the smallest, and one where
    // both limits are hit by two-digit numbers.
    constexpr std::array<ProtocolLimits, 4> kLimits = {{
        {47, 128},
        {kFibMaxN, kLineCapacity},
        {0, 1},
        {9, 2},
    }};
    const auto ways = splits(stream);
    for (const ProtocolLimits& limits : kLimits) {
        for (const Framing framing : {Framing{false}, Framing{true}}) {
            for (const auto& segments : ways) {
                // A reply line depends on its event alone: checking those of one way of
                // splitting is enough, and formatting them for every way costs most of a run.
                const bool check_replies = &segments == &ways.front();
                const auto expected = reference_stream(segments, limits, framing);
                const auto actual = parsed_stream(segments, limits, framing);
                for (std::size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
                    if (!(i < expected.size() && i < actual.size() && same(expected[i], actual[i])))
                        fail(
                            "event {} of {} in {} pieces{} with max_n={} max_line={}: parser "
                            "says {}, reference {}",
                            i, quoted(stream), segments.size(), framing.raw ? " (raw)" : "",
                            limits.max_n, limits.max_line,
                            i < actual.size() ? describe(actual[i]) : "nothing",
                            i < expected.size() ? describe(expected[i]) : "nothing");
                    if (check_replies) check_reply_lines(actual[i], limits);
                }
            }
        }
    }
}

void request_line(Input input) {
    const std::string_view line = as_text(input);
    // Limits around every boundary the digit loop has: none, one and two digits, the protocol's
    // own, and where ten times the limit no longer fits an unsigned.
    // clang-format off
    constexpr std::array<unsigned, 14> kMaxN = {
        0, 1, 9, 10, 47, kFibMaxN, 99, 100, 65535,
        UINT_MAX / 10, UINT_MAX / 10 + 1, UINT_MAX / 2, UINT_MAX - 1, UINT_MAX};
    // clang-format on
    for (const unsigned max_n : kMaxN) {
        const ParseEvent actual = parse_request(line, max_n);
        const ParseEvent expected = reference_request(line, max_n);
        if (!same(actual, expected))
            fail("{} with max_n={}: parser says {}, reference {}", quoted(line), max_n,
                 describe(actual), describe(expected));
        ProtocolLimits limits;
        limits.max_n = max_n;
        check_reply_lines(actual, limits);
    }
}

// ---- sizes ----------------------------------------------------------------------------------

namespace {

// The documented grammar: blanks, digits, blanks, one of the binary units, blanks.
std::optional<std::uint64_t> reference_size(std::string_view text) {
    text = trimmed(text);
    std::size_t digits = 0;
    while (digits < text.size() && is_digit(text[digits])) ++digits;
    if (digits == 0) return std::nullopt;
    const std::optional<std::uint64_t> value = decimal(text.substr(0, digits));
    const std::string unit = lowercase(trimmed(text.substr(digits)));
    unsigned shift = 0;
    if (unit.empty() || unit == "b")
        shift = 0;
    else if (unit == "k" || unit == "kib")
        shift = 10;
    else if (unit == "m" || unit == "mib")
        shift = 20;
    else if (unit == "g" || unit == "gib")
        shift = 30;
    else
        return std::nullopt;
    if (!value || *value > (UINT64_MAX >> shift)) return std::nullopt;
    return *value << shift;
}

std::optional<std::uint64_t> parsed_size(std::string_view text) {
    try {
        return parse_size(text);
    } catch (const UnitError& e) {
        if (*e.what() == '\0') fail("parse_size rejected {} without a reason", quoted(text));
        return std::nullopt;
    }
}

// An option value through its Boost.Program_options validator, as `store` would run it:
// nothing when it was rejected with the usage error that names the flag.
template <typename Value>
std::optional<Value> validated(std::string_view text) {
    boost::any out;
    try {
        validate(out, std::vector<std::string>{std::string(text)}, static_cast<Value*>(nullptr), 0);
    } catch (const po::error&) {
        if (!out.empty()) fail("a rejected value was stored anyway");
        return std::nullopt;
    }
    return boost::any_cast<Value>(out);
}

std::optional<StackSize> reference_stack_size(std::string_view text) {
    if (text == "default") return StackSize{};
    const auto bytes = reference_size(text);
    if (!bytes) return std::nullopt;
    return StackSize{*bytes};
}

}  // namespace

void size(Input input) {
    const std::string_view text = as_text(input);
    const std::optional<std::uint64_t> actual = parsed_size(text);
    const std::optional<std::uint64_t> expected = reference_size(text);
    if (actual != expected)
        fail("parse_size({}) gives {}, the grammar says {}", quoted(text),
             actual ? std::to_string(*actual) : "an error",
             expected ? std::to_string(*expected) : "an error");

    if (actual) {
        // What the program prints for a size reads back as the same size.
        if (parsed_size(std::to_string(*actual)) != actual) fail("{} does not read back", *actual);
        const std::string shown = format_size(*actual);
        if (shown.find('.') == std::string::npos)
            if (parsed_size(shown) != actual)
                fail("format_size({}) = {} does not read back", *actual, quoted(shown));
    }

    const auto byte_size = validated<ByteSize>(text);
    if (!(byte_size.has_value() == actual.has_value() &&
          (!byte_size || byte_size->bytes == *actual)))
        fail("--touch {} and parse_size disagree", quoted(text));

    const auto stack = validated<StackSize>(text);
    const auto expected_stack = reference_stack_size(text);
    if (!(stack.has_value() == expected_stack.has_value() &&
          (!stack || stack->bytes == expected_stack->bytes)))
        fail("--stack {} is not what the grammar says", quoted(text));

    std::vector<StackSize> expected_list;
    bool list_valid = true;
    for (std::size_t start = 0; list_valid;) {
        const std::size_t comma = text.find(',', start);
        const auto item = reference_stack_size(text.substr(start, comma - start));
        if (text.substr(start, comma - start).empty() || !item)
            list_valid = false;
        else
            expected_list.push_back(*item);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    const auto list = validated<StackSizeList>(text);
    if (list.has_value() != list_valid)
        fail("stack list {} {} but the grammar says {}", quoted(text), list ? "parsed" : "failed",
             list_valid ? "valid" : "invalid");
    if (list) {
        if (list->sizes.size() != expected_list.size())
            fail("stack list {} has {} sizes, not {}", quoted(text), list->sizes.size(),
                 expected_list.size());
        for (std::size_t i = 0; i < expected_list.size(); ++i)
            if (list->sizes[i].bytes != expected_list[i].bytes)
                fail("stack list {}: size {} differs", quoted(text), i);
    }
}

// ---- durations ------------------------------------------------------------------------------

namespace {

constexpr double kWeekNs = 7 * 24 * 3600e9;

// The documented grammar: blanks, a decimal number (digits with at most one '.'), blanks, a unit
// (none means seconds), blanks; at most a week.
std::optional<std::chrono::nanoseconds> reference_duration(std::string_view text) {
    text = trimmed(text);
    std::size_t end = 0;
    bool seen_dot = false;
    bool seen_digit = false;
    for (; end < text.size(); ++end) {
        if (is_digit(text[end]))
            seen_digit = true;
        else if (text[end] == '.' && !seen_dot)
            seen_dot = true;
        else
            break;
    }
    if (!seen_digit) return std::nullopt;
    // strtod reads what the grammar allows identically in every locale: no separators, no sign.
    const std::string number(text.substr(0, end));
    const double value = std::strtod(number.c_str(), nullptr);
    const std::string unit = lowercase(trimmed(text.substr(end)));
    double ns_per_unit = 0;
    if (unit == "ns")
        ns_per_unit = 1;
    else if (unit == "us")
        ns_per_unit = 1e3;
    else if (unit == "ms")
        ns_per_unit = 1e6;
    else if (unit.empty() || unit == "s")
        ns_per_unit = 1e9;
    else if (unit == "min" || unit == "m")
        ns_per_unit = 60e9;
    else if (unit == "h")
        ns_per_unit = 3600e9;
    else
        return std::nullopt;
    const double ns = value * ns_per_unit;
    if (!std::isfinite(ns) || ns > kWeekNs) return std::nullopt;
    return std::chrono::nanoseconds(std::llround(ns));
}

std::optional<std::chrono::nanoseconds> parsed_duration(std::string_view text) {
    try {
        return parse_duration(text);
    } catch (const UnitError& e) {
        if (*e.what() == '\0') fail("parse_duration rejected {} without a reason", quoted(text));
        return std::nullopt;
    }
}

}  // namespace

void duration(Input input) {
    const std::string_view text = as_text(input);
    const auto actual = parsed_duration(text);
    const auto expected = reference_duration(text);
    if (actual.has_value() != expected.has_value())
        fail("parse_duration({}) {}, the grammar says {}", quoted(text),
             actual ? "parsed" : "failed", expected ? "valid" : "invalid");
    if (actual) {
        const auto ns = actual->count();
        if (std::abs(ns - expected->count()) > 1)
            fail("parse_duration({}) = {} ns, not {} ns", quoted(text), ns, expected->count());
        if (ns < 0 || static_cast<double>(ns) > kWeekNs) fail("{} ns is out of range", ns);
        if (parsed_duration(fmt::format("{}ns", ns)) != actual)
            fail("{} ns does not read back", ns);
        // format_duration rounds to 2 decimals of a second, 1 of a millisecond or whole
        // microseconds; what it prints reads back within that rounding.
        const std::string shown = format_duration(*actual);
        const auto back = parsed_duration(shown);
        if (!back) fail("format_duration({} ns) = {} does not read back", ns, quoted(shown));
        const double tolerance = std::max(0.005 * static_cast<double>(ns), 50e3) + 1;
        if (std::abs(static_cast<double>(back->count() - ns)) > tolerance)
            fail("format_duration({} ns) = {} reads back as {} ns", ns, quoted(shown),
                 back->count());
    }
    const auto option = validated<Duration>(text);
    if (!(option.has_value() == actual.has_value() && (!option || option->value == *actual)))
        fail("--hold {} and parse_duration disagree", quoted(text));
}

// ---- endpoints ------------------------------------------------------------------------------

namespace {

// Four decimal octets 0-255 without leading zeros: what inet_pton(AF_INET) accepts.
bool is_dotted_quad(std::string_view host) {
    int octets = 0;
    for (std::size_t at = 0;; ++octets) {
        std::size_t end = at;
        while (end < host.size() && is_digit(host[end])) ++end;
        const std::string_view octet = host.substr(at, end - at);
        if (octet.empty() || octet.size() > 3 || (octet.size() > 1 && octet[0] == '0') ||
            *decimal(octet) > 255)
            return false;
        if (end == host.size()) return octets == 3;
        if (host[end] != '.') return false;
        at = end + 1;
    }
}

std::optional<Endpoint> reference_endpoint(std::string_view text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view port_text = text.substr(colon + 1);
    if (port_text.empty() || !std::all_of(port_text.begin(), port_text.end(), is_digit))
        return std::nullopt;
    const std::optional<std::uint64_t> port = decimal(port_text);
    if (!port || *port == 0 || *port > 65535) return std::nullopt;
    std::string host(text.substr(0, colon));
    if (host == "localhost") host = "127.0.0.1";
    if (!is_dotted_quad(host)) return std::nullopt;
    return Endpoint{host, static_cast<std::uint16_t>(*port)};
}

}  // namespace

void endpoint(Input input) {
    const std::string_view text = as_text(input);
    std::optional<Endpoint> actual;
    try {
        actual = parse_endpoint(text);
    } catch (const std::invalid_argument& e) {
        if (*e.what() == '\0') fail("parse_endpoint rejected {} without a reason", quoted(text));
    }
    const std::optional<Endpoint> expected = reference_endpoint(text);
    if (actual.has_value() != expected.has_value())
        fail("parse_endpoint({}) {}, reference {}", quoted(text), actual ? "parsed" : "failed",
             expected ? "valid" : "invalid");
    if (!actual) return;
    if (actual->host != expected->host || actual->port != expected->port)
        fail("parse_endpoint({}) = {}:{}, reference {}:{}", quoted(text), quoted(actual->host),
             actual->port, expected->host, expected->port);
    // The host the program connects to is the host it names in its messages.
    in_addr address{};
    std::array<char, INET_ADDRSTRLEN> canonical{};
    if (!(::inet_pton(AF_INET, actual->host.c_str(), &address) == 1 &&
          ::inet_ntop(AF_INET, &address, canonical.data(), canonical.size()) != nullptr &&
          actual->host == canonical.data()))
        fail("host {} is not the address {} it connects to", quoted(actual->host),
             canonical.data());
}

int run_or_abort(void (*entry)(Input), const std::uint8_t* data, std::size_t size) {
    try {
        entry(Input(data, size));
    } catch (const InvariantViolation& e) {
        std::fputs(fmt::format("invariant broken: {}\n", e.what()).c_str(), stderr);
        std::abort();
    }
    return 0;
}

}  // namespace tp::fuzz
