// fibserver end to end: the real binary from build/bin on an ephemeral loopback port, spoken to
// the way the article's clients and nc speak to it. Every read has a deadline, so a broken
// server fails a test instead of hanging it; nothing asserts how fast anything is.
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "embedded_server.hpp"
#include "net.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"
#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using tp::test::Client;
using tp::test::kSanitized;
using tp::test::status_value;

tp::EmbeddedServer start_server(std::vector<std::string> args) {
    return tp::test::start_fibserver(std::move(args));
}

}  // namespace

TEST_CASE("the readiness line names the port, model and pid", "[server]") {
    const std::string model = GENERATE(as<std::string>{}, "threads", "iterative");
    auto server = start_server({"--model", model});
    CHECK(server.model() == model);
    CHECK(server.pid() > 0);
    CHECK(server.endpoint().host == "127.0.0.1");
    CHECK(server.endpoint().port != 0);
    CHECK(server.endpoint().port != 25000);
}

TEST_CASE("fib replies: nc lines, telnet lines, several in one segment", "[server]") {
    const std::string model = GENERATE(as<std::string>{}, "threads", "iterative");
    auto server = start_server({"--model", model});
    Client c(server.endpoint());
    CHECK(c.ask("30\n") == "832040\n");
    CHECK(c.ask("10\r\n") == "55\n");
    CHECK(c.ask(" 20 \n") == "6765\n");
    CHECK(c.ask("1\n2\n10\n20\n", 4) == "1\n1\n55\n6765\n");
}

TEST_CASE("the article's perf1 and perf2 requests, without a newline", "[server]") {
    auto server = start_server({});
    SECTION("perf1: b'30', then wait for the reply, again and again") {
        Client c(server.endpoint());
        for (int i = 0; i < 5; ++i) CHECK(c.ask("30") == "832040\n");
    }
    SECTION("perf2: b'1' as fast as the replies come") {
        Client c(server.endpoint());
        for (int i = 0; i < 200; ++i) REQUIRE(c.ask("1") == "1\n");
    }
}

TEST_CASE("a line split across segments is one request", "[server]") {
    SECTION("once the connection has sent a newline, a pause within the grace changes nothing") {
        // Past the grace the "3" would be a request of its own (protocol_corners_test.cpp).
        auto server = start_server({"--raw-grace", "30s"});
        Client c(server.endpoint());
        CHECK(c.ask("1\n") == "1\n");
        c.send("3");
        std::this_thread::sleep_for(200ms);
        CHECK(c.ask("0\n") == "832040\n");
    }
    SECTION("the first request, split within the grace period") {
        // A long grace makes the split certain to land inside it on a loaded machine too.
        auto server = start_server({"--raw-grace", "30s"});
        Client c(server.endpoint());
        c.send("3");
        std::this_thread::sleep_for(100ms);
        CHECK(c.ask("0\n") == "832040\n");
    }
}

TEST_CASE("bad input gets one error line and the connection stays usable", "[server]") {
    auto server = start_server({"--max-n", "40"});
    Client c(server.endpoint());
    CHECK(c.ask("abc\n") == "error: not a number\n");
    CHECK(c.ask("-5\n") == "error: negative number\n");
    CHECK(c.ask("41\n") == "error: n above the limit of 40\n");
    CHECK(c.ask("\n") == "error: empty request\n");
    CHECK(c.ask("10\n") == "55\n");
    CHECK(c.ask("x\n40\n", 2) == "error: not a number\n102334155\n");
    CHECK(c.ask("10\n") == "55\n");
}

TEST_CASE("a line over --max-line gets an error, then the connection closes", "[server]") {
    auto server = start_server({"--max-line", "128"});
    SECTION("terminated") {
        Client c(server.endpoint());
        CHECK(c.ask(std::string(129, '1') + "\n") == "error: request longer than 128 bytes\n");
        CHECK(c.closed_by_server());
    }
    SECTION("never terminated: cut off once it overflows") {
        Client c(server.endpoint());
        CHECK(c.ask(std::string(500, '7')) == "error: request longer than 128 bytes\n");
        CHECK(c.closed_by_server());
    }
    Client after(server.endpoint());
    CHECK(after.ask("10\n") == "55\n");
}

TEST_CASE("the echo handler sends the bytes back", "[server]") {
    auto server = start_server({"--handler", "echo"});
    Client c(server.endpoint());
    c.send("hello");
    std::string got;
    for (int i = 0; i < 100 && got.size() < 5; ++i) got += c.read_within(10s).value_or("");
    CHECK(got == "hello");
    CHECK(c.ask("30\n") == "30\n");
}

TEST_CASE("threads serves clients at once, iterative makes the second wait", "[server]") {
    SECTION("threads") {
        auto server = start_server({"--model", "threads"});
        Client first(server.endpoint());
        CHECK(first.ask("10\n") == "55\n");
        Client second(server.endpoint());
        CHECK(second.ask("10\n") == "55\n");  // while the first still holds its connection
        CHECK(first.ask("20\n") == "6765\n");
    }
    SECTION("iterative") {
        auto server = start_server({"--model", "iterative"});
        Client first(server.endpoint());
        CHECK(first.ask("10\n") == "55\n");
        Client second(server.endpoint());  // completes: the kernel queues it
        second.send("10\n");
        CHECK_FALSE(second.read_within(300ms).has_value());
        first.close();
        CHECK(second.read_lines() == "55\n");
    }
}

TEST_CASE("a client that vanishes mid-request does not take the server down", "[server]") {
    const std::string model = GENERATE(as<std::string>{}, "threads", "iterative");
    auto server = start_server({"--model", model});
    for (int i = 0; i < 3; ++i) {
        Client gone(server.endpoint());
        gone.send("32\n");  // the reply will meet a closed socket: EPIPE, never SIGPIPE
        gone.close();
    }
    Client c(server.endpoint());
    CHECK(c.ask("10\n") == "55\n");
    CHECK(server.alive());
}

TEST_CASE("SIGTERM stops it cleanly, clients connected or not", "[server]") {
    const std::string model = GENERATE(as<std::string>{}, "threads", "iterative");
    auto server = start_server({"--model", model});
    Client idle(server.endpoint());
    CHECK(idle.ask("10\n") == "55\n");
    CHECK(server.stop() == 0);
    CHECK_THAT(server.stderr_tail(), Catch::Contains("fibserver: stopped by SIGTERM"));
    CHECK(idle.closed_by_server());
}

TEST_CASE("a connection thread costs its stack and guard page, not a malloc arena",
          "[server][memory]") {
    if (kSanitized) {
        WARN("skipped: a sanitizer gives every thread state of its own beyond its stack");
        return;
    }
    auto server = start_server({"--model", "threads", "--stack", "64k", "--raw-grace", "1ms"});
    const long before = status_value(server.pid(), "VmSize");
    constexpr int kConnections = 50;
    std::vector<Client> clients;
    for (int i = 0; i < kConnections; ++i) {
        clients.emplace_back(server.endpoint());
        // Both framings, so both code paths have run in every thread.
        REQUIRE(clients.back().ask(i % 2 ? "25\n" : "25") == "75025\n");
    }
    const long after = status_value(server.pid(), "VmSize");
    const double per_thread = static_cast<double>(after - before) / kConnections;
    INFO("VmSize " << before << " -> " << after << " KiB");
    CHECK(per_thread >= 64);
    CHECK(per_thread < 64 + 16);  // a malloc arena would add 64 MiB to some of them
}

TEST_CASE("fibserver usage errors: one line naming the flag, exit 2", "[server]") {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{"--max-n", "93"}, "--max-n"},
        {{"--max-n", "-1"}, "--max-n"},
        {{"--max-line", "0"}, "--max-line"},
        {{"--max-line", "4096"}, "--max-line"},
        {{"--stack", "1k"}, "minimum"},
        {{"--stack", "2g"}, "--stack"},
        {{"--model", "nope"}, "--model"},
        {{"--handler", "nope"}, "--handler"},
        {{"--port", "65536"}, "--port"},
        {{"--bind", "nowhere"}, "--bind"},
        {{"--backlog", "0"}, "--backlog"},
        {{"--raw-grace", "soon"}, "--raw-grace"},
        {{"--frobnicate"}, "frobnicate"},
        {{"--max-connections", "0"}, "--max-connections"},
        {{"--max-connections", "-1"}, "--max-connections"},
        {{"--idle-timeout", "soon"}, "--idle-timeout"},
        {{"--idle-timeout", "-1s"}, "--idle-timeout"},
    };
    for (const auto& c : cases) {
        const auto run = tp::test::run_program("fibserver", c.args, tp::test::within(10s));
        INFO(c.args.front() << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("fibserver: error: ") && Catch::Contains(c.says) &&
                                Catch::EndsWith("(see --help)\n"));
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
        CHECK(run.out.empty());
    }
}

TEST_CASE("fibserver --help and --version", "[server]") {
    const auto help = tp::test::run_program("fibserver", {"--help"}, tp::test::within(10s));
    CHECK(help.exit_code == 0);
    for (const char* flag :
         {"--model", "--handler", "--stack", "--port", "--bind", "--max-n", "--max-line",
          "--raw-grace", "--backlog", "--max-connections", "--idle-timeout"})
        CHECK_THAT(help.out, Catch::Contains(flag));
    const auto version = tp::test::run_program("fibserver", {"--version"}, tp::test::within(10s));
    CHECK(version.exit_code == 0);
    CHECK_THAT(version.out, Catch::StartsWith("fibserver "));
}

TEST_CASE("a runtime failure is one line and exit 1", "[server]") {
    auto holder = start_server({});
    const auto run = tp::test::run_program(
        "fibserver", {"--port", std::to_string(holder.endpoint().port)}, tp::test::within(10s));
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::StartsWith("fibserver: bind 127.0.0.1:") &&
                            Catch::Contains("Address already in use"));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK(run.out.empty());
}
