// Two corners of the wire protocol, in every model: an unterminated request that follows
// newline-terminated ones, and one that the client leaves pending when it half-closes
// (`printf '10\n20' | nc -q1 HOST PORT`). Neither may be dropped (DESIGN.md, "The wire protocol").
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;
using tp::test::Client;

// Every model, with what it needs to serve one client; threshold and epoll send fib(20) to a
// worker, so the answer that comes back from another process is covered too.
const std::vector<std::vector<std::string>> kModels = {
    {"--model", "iterative"},
    {"--model", "threads"},
    {"--model", "gil"},
    {"--model", "pool", "--workers", "1"},
    {"--model", "threshold", "--workers", "1"},
    {"--model", "prefork", "--workers", "1"},
    {"--model", "epoll"},
    {"--model", "epoll", "--threshold", "15", "--workers", "1"},
};

std::string describe(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

}  // namespace

TEST_CASE("an unterminated request after newline-terminated ones is answered after the grace",
          "[protocol][models]") {
    for (const auto& model : kModels) {
        INFO(describe(model));
        auto args = model;
        args.insert(args.end(), {"--raw-grace", "50ms"});
        auto server = tp::test::start_fibserver(args);
        Client client(server.endpoint());
        REQUIRE(client.ask("10\n") == "55\n");
        // No newline will come: after --raw-grace the bytes are a request like the first.
        REQUIRE(client.send("20"));
        CHECK(client.read_line(5s) == "6765\n");
        // The connection is still in line mode: a split line is one request, not two.
        REQUIRE(client.send("1"));
        REQUIRE(client.send("2\n"));
        CHECK(client.read_line(5s) == "144\n");
        server.stop();
    }
}

TEST_CASE("a request pending when the client half-closes is answered before the server closes",
          "[protocol][models]") {
    for (const auto& model : kModels) {
        INFO(describe(model));
        // A grace far longer than the test waits: only the end of stream can flush the "20".
        auto args = model;
        args.insert(args.end(), {"--raw-grace", "30s"});
        auto server = tp::test::start_fibserver(args);
        Client client(server.endpoint());
        REQUIRE(client.send("10\n20"));
        REQUIRE(::shutdown(client.fd(), SHUT_WR) == 0);
        CHECK(client.read_lines(2, 10s) == "55\n6765\n");
        CHECK(client.closed_by_server(10s));
        server.stop();
    }
}
