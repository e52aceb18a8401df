#include "protocol.hpp"

#include <catch2/catch.hpp>
#include <climits>
#include <string>
#include <string_view>
#include <vector>

#include "spam.hpp"

namespace {

using tp::ParseEvent;
using tp::RequestError;

tp::ProtocolLimits limits(unsigned max_n = 45, std::size_t max_line = 128) {
    tp::ProtocolLimits l;
    l.max_n = max_n;
    l.max_line = max_line;
    return l;
}

// Feeds one segment the way a connection does and returns the replies it would send.
template <typename Parser>
std::string feed(Parser& parser, std::string_view segment, const tp::ProtocolLimits& l = limits()) {
    std::string replies;
    while (!segment.empty()) {
        const auto step = parser.consume(segment);
        REQUIRE(step.taken > 0);
        REQUIRE(step.taken <= segment.size());
        segment.remove_prefix(step.taken);
        if (!step.event) continue;
        replies += step.event->is_request()
                       ? "n=" + std::to_string(step.event->n) + "\n"
                       : std::string(tp::ReplyLine::error(step.event->error, l).view());
        if (step.event->close) replies += "<close>\n";
    }
    return replies;
}

std::string reply_to(std::string_view line, unsigned max_n = 45) {
    const ParseEvent e = tp::parse_request(line, max_n);
    if (e.is_spam()) return "spam=" + std::to_string(e.spam_count);
    return e.is_request() ? "n=" + std::to_string(e.n)
                          : std::string(tp::ReplyLine::error(e.error, limits(max_n)).view());
}

}  // namespace

TEST_CASE("the article's perf1 request: '30' without a newline waits, then flushes", "[protocol]") {
    tp::RequestParser parser(limits());
    CHECK(feed(parser, "30").empty());
    REQUIRE(parser.has_pending());
    CHECK_FALSE(parser.seen_newline());
    const ParseEvent e = parser.flush_pending();
    CHECK(e.is_request());
    CHECK(e.n == 30);
    CHECK_FALSE(e.close);
    CHECK_FALSE(parser.has_pending());
    // The next one is independent of the first.
    CHECK(feed(parser, "1").empty());
    CHECK(parser.flush_pending().n == 1);
}

TEST_CASE("nc and telnet lines", "[protocol]") {
    tp::RequestParser parser(limits());
    CHECK(feed(parser, "30\n") == "n=30\n");
    CHECK(parser.seen_newline());
    CHECK(feed(parser, "30\r\n") == "n=30\n");
    CHECK(feed(parser, "  7 \t\r\n") == "n=7\n");
    CHECK(feed(parser, "+5\n") == "n=5\n");
    CHECK(feed(parser, "007\n") == "n=7\n");
    CHECK(feed(parser, "-0\n") == "n=0\n");  // int('-0') == 0 in Python too
    CHECK_FALSE(parser.has_pending());
}

TEST_CASE("a line split across segments is one request", "[protocol]") {
    tp::RequestParser parser(limits());
    CHECK(feed(parser, "3").empty());
    CHECK(parser.has_pending());
    CHECK(feed(parser, "0\n") == "n=30\n");

    CHECK(feed(parser, "4").empty());
    CHECK(feed(parser, "0").empty());
    CHECK(feed(parser, "\r").empty());
    CHECK(feed(parser, "\n") == "n=40\n");
}

TEST_CASE("several requests in one segment are answered in order", "[protocol]") {
    tp::RequestParser parser(limits());
    CHECK(feed(parser, "10\n20\n1\n") == "n=10\nn=20\nn=1\n");
    CHECK(feed(parser, "5\n6\n7") == "n=5\nn=6\n");
    CHECK(parser.has_pending());
    CHECK(feed(parser, "\n") == "n=7\n");
}

TEST_CASE("bad input gets one error line and the connection goes on", "[protocol]") {
    CHECK(reply_to("abc") == "error: not a number\n");
    CHECK(reply_to("12abc") == "error: not a number\n");
    CHECK(reply_to("1 2") == "error: not a number\n");
    CHECK(reply_to("-") == "error: not a number\n");
    CHECK(reply_to("--5") == "error: not a number\n");
    CHECK(reply_to("3.0") == "error: not a number\n");
    CHECK(reply_to(std::string_view("1\0", 2)) == "error: not a number\n");
    CHECK(reply_to("-5") == "error: negative number\n");
    CHECK(reply_to("46") == "error: n above the limit of 45\n");
    CHECK(reply_to("45") == "n=45");
    CHECK(reply_to("93", 92) == "error: n above the limit of 92\n");
    CHECK(reply_to("99999999999999999999999999") == "error: n above the limit of 45\n");
    CHECK(reply_to("") == "error: empty request\n");
    CHECK(reply_to(" \r") == "error: empty request\n");

    tp::RequestParser parser(limits());
    CHECK(feed(parser, "abc\n-5\n46\n\n\r\n10\n") ==
          "error: not a number\nerror: negative number\nerror: n above the limit of 45\n"
          "error: empty request\nerror: empty request\nn=10\n");
    CHECK_FALSE(parser.closed());
}

TEST_CASE("a flushed request is parsed like a line", "[protocol]") {
    tp::RequestParser parser(limits());
    feed(parser, "x");
    CHECK(parser.flush_pending().error == RequestError::not_a_number);
    feed(parser, "  ");
    CHECK(parser.flush_pending().error == RequestError::empty);
    feed(parser, "50");
    CHECK(parser.flush_pending().error == RequestError::above_max_n);
}

TEST_CASE("a line over the limit is an error, then the connection closes", "[protocol]") {
    const auto l = limits(45, 128);
    SECTION("at exactly the limit it is still a request") {
        tp::RequestParser parser(l);
        CHECK(feed(parser, std::string(126, ' ') + "10\n", l) == "n=10\n");
    }
    SECTION("one byte more, in one segment") {
        tp::RequestParser parser(l);
        CHECK(feed(parser, std::string(129, '1') + "\n10\n", l) ==
              "error: request longer than 128 bytes\n<close>\n");
        CHECK(parser.closed());
        CHECK(feed(parser, "10\n", l).empty());  // nothing after the close
    }
    SECTION("without a newline, as soon as it overflows, in small pieces") {
        tp::RequestParser parser(l);
        std::string replies;
        for (int i = 0; i < 100 && replies.empty(); ++i) replies = feed(parser, "11", l);
        CHECK(replies == "error: request longer than 128 bytes\n<close>\n");
    }
    SECTION("the limit is configurable") {
        const auto small = limits(45, 4);
        tp::RequestParser parser(small);
        CHECK(feed(parser, "  10\n", small) == "n=10\n");
        tp::RequestParser other(small);
        CHECK(feed(other, "12345", small) == "error: request longer than 4 bytes\n<close>\n");
    }
}

TEST_CASE("the event loop's parser, its line sized to max_line, parses as a thread's does",
          "[protocol]") {
    // Its buffer is max_line bytes, not kLineCapacity: one that wrote past it would show under
    // the sanitizers here, at exactly the limit and one byte over it.
    for (const std::size_t max_line :
         {std::size_t{1}, std::size_t{4}, std::size_t{128}, tp::kLineCapacity}) {
        const auto l = limits(45, max_line);
        for (const std::string& stream :
             {std::string(max_line, '1') + "\n", std::string(max_line + 1, '1') + "\n",
              std::string("10\n2\n\n-1\nten\n"), std::string(max_line, ' ') + "7"}) {
            INFO("max_line " << max_line << ", stream '" << stream << "'");
            tp::RequestParser inline_parser(l);
            tp::SizedRequestParser sized_parser(l);
            std::string inline_replies, sized_replies;
            // In pieces of 3 bytes, as a slow client sends them.
            for (std::size_t at = 0; at < stream.size(); at += 3) {
                inline_replies += feed(inline_parser, std::string_view(stream).substr(at, 3), l);
                sized_replies += feed(sized_parser, std::string_view(stream).substr(at, 3), l);
            }
            CHECK(sized_replies == inline_replies);
            REQUIRE(sized_parser.has_pending() == inline_parser.has_pending());
            if (sized_parser.has_pending())
                CHECK(sized_parser.flush_pending().n == inline_parser.flush_pending().n);
        }
    }
    // What an idle connection of the event loop carries for its parser: a pointer, not 1 KiB.
    CHECK(sizeof(tp::SizedRequestParser) < 64);
    CHECK_THROWS_AS(tp::SizedRequestParser(limits(45, 0)), std::invalid_argument);
}

TEST_CASE("numbers beyond unsigned are above any max_n, never wrapped round", "[protocol]") {
    // 2^32 once read as 0, and 10 * (2^32 - 1) as 4294967286, with a max_n of UINT_MAX.
    CHECK(reply_to("4294967295", UINT_MAX) == "n=4294967295");
    CHECK(reply_to("4294967296", UINT_MAX) == "error: n above the limit of 4294967295\n");
    CHECK(reply_to("42949672950", UINT_MAX) == "error: n above the limit of 4294967295\n");
    CHECK(reply_to("99999999999999999999999999", 92) == "error: n above the limit of 92\n");
}

TEST_CASE("limits the parser cannot honour are refused", "[protocol]") {
    CHECK_THROWS_AS(tp::RequestParser(limits(93)), std::invalid_argument);
    CHECK_THROWS_AS(tp::RequestParser(limits(45, 0)), std::invalid_argument);
    CHECK_THROWS_AS(tp::RequestParser(limits(45, tp::kLineCapacity + 1)), std::invalid_argument);
    CHECK_NOTHROW(tp::RequestParser(limits(92, tp::kLineCapacity)));
}

TEST_CASE("replies", "[protocol]") {
    CHECK(tp::ReplyLine::result(55).view() == "55\n");
    CHECK(tp::ReplyLine::result(7540113804746346429ULL).view() == "7540113804746346429\n");
    CHECK(tp::ReplyLine::result(UINT64_MAX).view() == "18446744073709551615\n");
    CHECK(tp::ReplyLine::error(RequestError::too_long, limits(45, 1024)).view() ==
          "error: request longer than 1024 bytes\n");
}

TEST_CASE("handler names", "[protocol]") {
    CHECK(tp::parse_handler("fib") == tp::Handler::fib);
    CHECK(tp::parse_handler("echo") == tp::Handler::echo);
    CHECK_FALSE(tp::parse_handler("Echo"));
    CHECK(tp::handler_name(tp::Handler::echo) == "echo");
}

TEST_CASE("spam N: the article's uninterruptible instruction as a request", "[protocol]") {
    CHECK(reply_to("spam 100000000") == "spam=100000000");
    CHECK(reply_to(" spam\t\t42\r") == "spam=42");
    CHECK(reply_to("spam 0") == "spam=0");
    // Only the word, blanks and digits; anything else is an ordinary bad request.
    CHECK(reply_to("spam") == "error: not a number\n");
    CHECK(reply_to("spam -5") == "error: not a number\n");
    CHECK(reply_to("spam 5x") == "error: not a number\n");
    CHECK(reply_to("spam5") == "error: not a number\n");
    CHECK(reply_to("Spam 5") == "error: not a number\n");
    // Above --max-spam, however many digits: never wrapped round to a small count.
    CHECK(reply_to("spam 1000000001") == "error: spam count above the limit of 1000000000\n");
    CHECK(reply_to("spam 18446744073709551616") ==
          "error: spam count above the limit of 1000000000\n");
    const tp::ParseEvent custom = tp::parse_request("spam 11", 45, 10);
    CHECK(custom.kind == tp::ParseEvent::Kind::error);
    CHECK(custom.error == RequestError::above_max_spam);
    CHECK(tp::parse_request("spam 10", 45, 10).spam_count == 10);
    // Its answer is Python's: the word is in no range of integers.
    CHECK(tp::ReplyLine::truth(tp::spam_in_range(1000)).view() == "False\n");
}
