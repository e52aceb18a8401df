// The epoll model end to end: the real fibserver on loopback, one event-loop thread serving
// many clients at once, the raw-grace policy on timers, idle connections that cost little,
// clients that never read, and big requests handed to workers (running out of descriptors and
// dying workers are in fault_test.cpp, for every model). Every read has a deadline; counts are
// bounded and the descriptor limit is checked first.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

using tp::test::children_of;
using tp::test::Client;
using tp::test::kSanitized;
using tp::test::status_value;

tp::EmbeddedServer start_epoll(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--model", "epoll"});
    return tp::test::start_fibserver(std::move(args));
}

// Stops the server and checks that it ended well: exit status 0 (a leak or an ASan report
// would change it) and no UBSan report, which does not.
void check_clean_stop(tp::EmbeddedServer& server) {
    CHECK(server.stop() == 0);
    CHECK_THAT(server.stderr_tail(),
               !Catch::Contains("runtime error") && !Catch::Contains("Sanitizer"));
}

// Raises this process's descriptor limit (which the server inherits) to `needed` if the hard
// limit allows; false if it does not.
bool ensure_descriptors(rlim_t needed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
    if (limit.rlim_cur >= needed) return true;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
    limit.rlim_cur = needed;
    return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// Opens `count` connections that each make one small request and then stay idle.
void open_idle(const tp::Endpoint& to, std::vector<Client>& clients, std::size_t count) {
    clients.reserve(clients.size() + count);
    for (std::size_t i = 0; i < count; ++i) {
        clients.emplace_back(to);
        REQUIRE(clients.back().ask("1\n") == "1\n");
    }
}

struct IdleCost {
    double rss_kib_per_connection;
    double anon_kib_per_connection;
};

IdleCost measure_idle_cost(std::size_t connections) {
    // Room for them all beside the warm-up and the newcomer, whatever the default cap.
    auto server = start_epoll({"--max-connections", std::to_string(connections + 16)});
    {
        Client warm_up(server.endpoint());  // the first connection's one-off allocations
        REQUIRE(warm_up.ask("10\n") == "55\n");
    }
    std::this_thread::sleep_for(50ms);
    const long rss_before = status_value(server.pid(), "VmRSS");
    const long anon_before = status_value(server.pid(), "RssAnon");
    std::vector<Client> clients;
    open_idle(server.endpoint(), clients, connections);
    CHECK(status_value(server.pid(), "Threads") == 1);
    const long rss_after = status_value(server.pid(), "VmRSS");
    const long anon_after = status_value(server.pid(), "RssAnon");
    const auto n = static_cast<double>(connections);
    const IdleCost cost{static_cast<double>(rss_after - rss_before) / n,
                        static_cast<double>(anon_after - anon_before) / n};
    INFO(connections << " idle connections: VmRSS " << rss_before << " -> " << rss_after
                     << " KiB, RssAnon " << anon_before << " -> " << anon_after << " KiB");
    WARN("epoll: " << connections << " idle connections cost " << cost.rss_kib_per_connection
                   << " KiB each (VmRSS), " << cost.anon_kib_per_connection << " KiB (RssAnon)");
    Client newcomer(server.endpoint());
    CHECK(newcomer.ask("20\n") == "6765\n");
    check_clean_stop(server);
    return cost;
}

}  // namespace

TEST_CASE("epoll: the protocol, several clients at once", "[epoll]") {
    auto server = start_epoll({"--max-n", "40", "--max-line", "128"});
    CHECK(server.model() == "epoll");
    std::vector<Client> clients;
    for (int i = 0; i < 5; ++i) clients.emplace_back(server.endpoint());

    SECTION("lines, several in one segment, interleaved between clients") {
        for (auto& c : clients) c.send("10\n");
        for (auto& c : clients) CHECK(c.read_lines() == "55\n");
        for (auto& c : clients) c.send("1\n2\n10\n20\n");
        for (auto& c : clients) CHECK(c.read_lines(4) == "1\n1\n55\n6765\n");
        CHECK(clients[0].ask("10\r\n") == "55\n");
        CHECK(clients[1].ask(" 20 \n") == "6765\n");
        CHECK(clients[2].ask("spam 1000\n") == "False\n");  // on the loop, like any inline work
    }
    SECTION("a line split across segments, after a newline: one request within the grace") {
        // Past the grace the "3" would be a request of its own (protocol_corners_test.cpp).
        auto patient = start_epoll({"--raw-grace", "30s"});
        std::vector<Client> split;
        for (int i = 0; i < 5; ++i) split.emplace_back(patient.endpoint());
        for (auto& c : split) REQUIRE(c.ask("1\n") == "1\n");
        for (auto& c : split) c.send("3");
        std::this_thread::sleep_for(200ms);
        for (auto& c : split) c.send("0\n");
        for (auto& c : split) CHECK(c.read_lines() == "832040\n");
    }
    SECTION("the article's perf1 and perf2: no newline, answered after the grace, then raw") {
        for (auto& c : clients) c.send("30");
        for (auto& c : clients) CHECK(c.read_lines() == "832040\n");
        for (int i = 0; i < 100; ++i)
            for (auto& c : clients) REQUIRE(c.ask("1") == "1\n");
        CHECK(clients[0].ask("10\n20", 2) == "55\n6765\n");  // raw: lines, then the tail
    }
    SECTION("bad input gets an error line, the connection stays usable") {
        Client& c = clients[2];
        CHECK(c.ask("abc\n") == "error: not a number\n");
        CHECK(c.ask("-5\n") == "error: negative number\n");
        CHECK(c.ask("41\n") == "error: n above the limit of 40\n");
        CHECK(c.ask("\n") == "error: empty request\n");
        CHECK(c.ask("x\n40\n", 2) == "error: not a number\n102334155\n");
        CHECK(c.ask("10\n") == "55\n");
    }
    SECTION("a line too long: error, then closed; the others carry on") {
        CHECK(clients[0].ask(std::string(129, '1') + "\n") ==
              "error: request longer than 128 bytes\n");
        CHECK(clients[0].closed_by_server());
        CHECK(clients[1].ask(std::string(500, '7')) == "error: request longer than 128 bytes\n");
        CHECK(clients[1].closed_by_server());
        for (std::size_t i = 2; i < clients.size(); ++i) CHECK(clients[i].ask("10\n") == "55\n");
    }
    CHECK(status_value(server.pid(), "Threads") == 1);
    check_clean_stop(server);
    CHECK_THAT(server.stderr_tail(), Catch::Contains("fibserver: stopped by SIGTERM after"));
}

TEST_CASE("epoll: the first request split within a long grace is one request", "[epoll]") {
    auto server = start_epoll({"--raw-grace", "30s"});
    Client c(server.endpoint());
    c.send("3");
    std::this_thread::sleep_for(100ms);
    CHECK(c.ask("0\n") == "832040\n");
    check_clean_stop(server);
}

TEST_CASE("epoll: --raw-grace 0 is raw from the start", "[epoll]") {
    auto server = start_epoll({"--raw-grace", "0"});
    Client c(server.endpoint());
    CHECK(c.ask("30") == "832040\n");
    CHECK(c.ask("10") == "55\n");
    check_clean_stop(server);
}

TEST_CASE("epoll: the echo handler", "[epoll]") {
    auto server = start_epoll({"--handler", "echo"});
    Client c(server.endpoint());
    CHECK(c.ask("hello\n") == "hello\n");
    CHECK(c.ask("30\n") == "30\n");
    check_clean_stop(server);
}

TEST_CASE("epoll: thousands of idle connections, one thread, a couple of KiB each",
          "[epoll][memory]") {
    constexpr std::size_t kConnections = 2000;
    if (!ensure_descriptors(kConnections + 200)) {
        WARN("RLIMIT_NOFILE hard limit too low for " << kConnections << " connections: skipped");
        return;
    }
    const IdleCost cost = measure_idle_cost(kConnections);
    if (kSanitized) {
        WARN("sanitized build: the per-connection memory bound is not checked");
        return;
    }
    CHECK(cost.anon_kib_per_connection < 4.0);
    CHECK(cost.rss_kib_per_connection < 4.0);
}

// "Tens of thousands": hidden (run with "[.epoll-10k]"), as it needs RLIMIT_NOFILE >= 10200.
TEST_CASE("epoll: ten thousand idle connections", "[.epoll-10k]") {
    constexpr std::size_t kConnections = 10000;
    if (!ensure_descriptors(kConnections + 200)) {
        WARN("RLIMIT_NOFILE hard limit too low for " << kConnections << " connections: skipped");
        return;
    }
    const IdleCost cost = measure_idle_cost(kConnections);
    if (!kSanitized) CHECK(cost.anon_kib_per_connection < 4.0);
}

TEST_CASE("epoll: a client that never reads does not hold up the others", "[epoll]") {
    auto server = start_epoll();
    Client hog(server.endpoint());
    REQUIRE(hog.ask("1\n") == "1\n");
    const long rss_before = status_value(server.pid(), "VmRSS");

    // Requests until the socket takes no more: the server has stopped reading this client,
    // since the replies it cannot send stay bounded.
    REQUIRE(::fcntl(hog.fd(), F_SETFL, ::fcntl(hog.fd(), F_GETFL) | O_NONBLOCK) == 0);
    const std::string burst = [] {
        std::string s;
        for (int i = 0; i < 2048; ++i) s += "1\n";
        return s;
    }();
    std::size_t sent = 0;
    const auto deadline = Clock::now() + 20s;
    bool full = false;
    while (!full && Clock::now() < deadline && sent < (std::size_t{256} << 20)) {
        const ssize_t n = ::send(hog.fd(), burst.data(), burst.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        REQUIRE((n < 0 && errno == EAGAIN));
        // The server may still be draining: full only if it stays full.
        pollfd p{hog.fd(), POLLOUT, 0};
        full = ::poll(&p, 1, 500) == 0;
    }
    REQUIRE(full);
    INFO("the client that never reads sent " << sent << " bytes");

    Client other(server.endpoint());
    for (int i = 0; i < 20; ++i) REQUIRE(other.ask("10\n") == "55\n");
    const long rss_after = status_value(server.pid(), "VmRSS");
    INFO("server VmRSS " << rss_before << " -> " << rss_after << " KiB");
    CHECK(rss_after - rss_before < 1024);

    // Nothing was lost: once it reads, every request gets its reply, in order.
    REQUIRE(::fcntl(hog.fd(), F_SETFL, ::fcntl(hog.fd(), F_GETFL) & ~O_NONBLOCK) == 0);
    const long requests = static_cast<long>(sent / 2);  // sent is even: "1\n" pairs, whole
    const std::string replies = hog.read_lines(requests, 60s);
    CHECK(static_cast<long>(std::count(replies.begin(), replies.end(), '\n')) == requests);
    CHECK(replies.size() == sent);
    check_clean_stop(server);
}

TEST_CASE("epoll with --threshold: big requests go to workers, the loop keeps answering",
          "[epoll][workers]") {
    // fib(45) takes most of a second here: long enough that small requests answered meanwhile
    // were answered while it computed.
    SECTION("with workers, small requests do not wait for a big one") {
        auto server = start_epoll({"--threshold", "20", "--workers", "2"});
        Client big(server.endpoint());
        Client small(server.endpoint());
        REQUIRE(small.ask("10\n") == "55\n");
        big.send("45\n");
        std::this_thread::sleep_for(20ms);
        for (int i = 0; i < 20; ++i) REQUIRE(small.ask("10\n") == "55\n");
        CHECK(small.ask("25\n") == "75025\n");          // above the threshold: the other worker
        CHECK_FALSE(big.read_within(0ms).has_value());  // still computing
        CHECK(big.read_lines(1, 60s) == "1134903170\n");
        CHECK(status_value(server.pid(), "Threads") == 1);
        CHECK(children_of(server.pid()).size() == 2);
        check_clean_stop(server);
    }
    SECTION("without, the loop computes and everyone waits (the article's point)") {
        auto server = start_epoll();
        Client big(server.endpoint());
        Client small(server.endpoint());
        REQUIRE(small.ask("10\n") == "55\n");
        big.send("45\n");
        std::this_thread::sleep_for(20ms);
        small.send("10\n");
        CHECK_FALSE(small.read_within(200ms).has_value());
        CHECK(big.read_lines(1, 60s) == "1134903170\n");
        CHECK(small.read_lines() == "55\n");
        check_clean_stop(server);
    }
    SECTION("replies keep their order when a big one is followed by small ones") {
        auto server = start_epoll({"--threshold", "20", "--workers", "1"});
        Client c(server.endpoint());
        CHECK(c.ask("30\n10\n25\n5\n", 4) == "832040\n55\n75025\n5\n");
        Client raw(server.endpoint());
        CHECK(raw.ask("30") == "832040\n");  // unterminated, after the grace, to a worker
        CHECK(raw.ask("25") == "75025\n");   // raw mode, to a worker at once
        check_clean_stop(server);
    }
}
