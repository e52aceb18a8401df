#include "protocol.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string>

#include "fib.hpp"

namespace tp {
namespace {

// The blanks Python's int() strips (its str.strip() set, ASCII part).
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

std::optional<Handler> parse_handler(std::string_view name) {
    if (name == "fib") return Handler::fib;
    if (name == "echo") return Handler::echo;
    return std::nullopt;
}

std::string_view handler_name(Handler handler) {
    switch (handler) {
        case Handler::fib:
            return "fib";
        case Handler::echo:
            return "echo";
    }
    return "?";
}

namespace {

// Digits to a value, stopping as soon as it is above `max`: all that matters then is that it is
// above. Counted so that no max the caller passes can make it wrap round to a small number:
// ten times any max below 2^60 plus a digit still fits 64 bits, and a larger max is held to the
// unsigned 64-bit range by the overflow check.
std::optional<std::uint64_t> digits_up_to(std::string_view digits, std::uint64_t max) {
    std::uint64_t value = 0;
    for (const char c : digits) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
        if (value > max) return std::nullopt;
    }
    return value;
}

// "spam N": the word, blanks, and N's digits (the line already trimmed).
std::optional<ParseEvent> parse_spam(std::string_view line, std::uint64_t max_spam) {
    constexpr std::string_view kWord = "spam";
    if (line.size() <= kWord.size() || line.substr(0, kWord.size()) != kWord ||
        !is_blank(line[kWord.size()]))
        return std::nullopt;
    line.remove_prefix(kWord.size());
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    if (line.empty() || !std::all_of(line.begin(), line.end(), is_digit))
        return ParseEvent::failure(RequestError::not_a_number);
    const auto count = digits_up_to(line, max_spam);
    if (!count) return ParseEvent::failure(RequestError::above_max_spam);
    return ParseEvent::spam(*count);
}

}  // namespace

ParseEvent parse_request(std::string_view line, unsigned max_n, std::uint64_t max_spam) {
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
    if (line.empty()) return ParseEvent::failure(RequestError::empty);
    if (auto spam = parse_spam(line, max_spam)) return *spam;

    bool negative = false;
    if (line.front() == '+' || line.front() == '-') {
        negative = line.front() == '-';
        line.remove_prefix(1);
    }
    if (line.empty() || !std::all_of(line.begin(), line.end(), is_digit))
        return ParseEvent::failure(RequestError::not_a_number);

    const auto value = digits_up_to(line, max_n);
    // "-0" is 0; any other negative number is negative, however large.
    if (negative && (!value || *value != 0)) return ParseEvent::failure(RequestError::negative);
    if (!value) return ParseEvent::failure(RequestError::above_max_n);
    return ParseEvent::request(static_cast<unsigned>(*value));
}

namespace {

// Checked before the line storage is made: a SizedLine of max_line 0 would be a buffer of none.
const ProtocolLimits& checked(const ProtocolLimits& limits) {
    if (limits.max_n > kFibMaxN)
        throw std::invalid_argument("max_n above " + std::to_string(kFibMaxN));
    if (limits.max_line == 0 || limits.max_line > kLineCapacity)
        throw std::invalid_argument("max_line outside 1.." + std::to_string(kLineCapacity));
    return limits;
}

}  // namespace

template <typename Line>
BasicRequestParser<Line>::BasicRequestParser(const ProtocolLimits& limits)
    : limits_(checked(limits)), line_(limits.max_line) {}

template <typename Line>
typename BasicRequestParser<Line>::Step BasicRequestParser<Line>::consume(std::string_view input) {
    if (closed_) return {input.size(), std::nullopt};
    const std::size_t newline = input.find('\n');
    const std::size_t body = newline == std::string_view::npos ? input.size() : newline;
    // Rejected as soon as it overflows, not when its '\n' comes: a client streaming digits
    // without end is cut off after max_line + 1 bytes.
    if (length_ + body > limits_.max_line) {
        closed_ = true;
        length_ = 0;
        return {input.size(), ParseEvent::failure(RequestError::too_long)};
    }
    std::copy_n(input.data(), body, line_.data() + length_);
    length_ += body;
    if (newline == std::string_view::npos) return {input.size(), std::nullopt};

    seen_newline_ = true;
    const ParseEvent event =
        parse_request({line_.data(), length_}, limits_.max_n, limits_.max_spam);
    length_ = 0;
    return {newline + 1, event};
}

template <typename Line>
ParseEvent BasicRequestParser<Line>::flush_pending() {
    const ParseEvent event =
        parse_request({line_.data(), length_}, limits_.max_n, limits_.max_spam);
    length_ = 0;
    return event;
}

template class BasicRequestParser<InlineLine>;
template class BasicRequestParser<SizedLine>;

void ReplyLine::append(std::string_view s) {
    const std::size_t n = std::min(s.size(), text_.size() - size_);
    std::copy_n(s.data(), n, text_.data() + size_);
    size_ += n;
}

void ReplyLine::append(std::uint64_t value) {
    // 20 digits fit: the largest uint64 has 20 and every reply leaves room for them.
    const auto [end, ec] = std::to_chars(text_.data() + size_, text_.data() + text_.size(), value);
    if (ec == std::errc()) size_ = static_cast<std::size_t>(end - text_.data());
}

ReplyLine ReplyLine::result(std::uint64_t value) {
    ReplyLine reply;
    reply.append(value);
    reply.append("\n");
    return reply;
}

ReplyLine ReplyLine::truth(bool value) {
    ReplyLine reply;
    reply.append(value ? "True\n" : "False\n");
    return reply;
}

ReplyLine ReplyLine::error(RequestError error, const ProtocolLimits& limits) {
    ReplyLine reply;
    reply.append("error: ");
    switch (error) {
        case RequestError::not_a_number:
            reply.append("not a number");
            break;
        case RequestError::negative:
            reply.append("negative number");
            break;
        case RequestError::above_max_n:
            reply.append("n above the limit of ");
            reply.append(std::uint64_t{limits.max_n});
            break;
        case RequestError::empty:
            reply.append("empty request");
            break;
        case RequestError::too_long:
            reply.append("request longer than ");
            reply.append(std::uint64_t{limits.max_line});
            reply.append(" bytes");
            break;
        case RequestError::above_max_spam:
            reply.append("spam count above the limit of ");
            reply.append(limits.max_spam);
            break;
        case RequestError::worker_failed:
            reply.append("worker failed");
            break;
    }
    reply.append("\n");
    return reply;
}

}  // namespace tp
