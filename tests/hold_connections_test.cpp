// hold_connections, the bench's client for the scale runs: connections served and held, spread
// round loopback source addresses so one address's ephemeral ports are not the ceiling.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "run_program.hpp"
#include "subprocess.hpp"
#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;

// ESTABLISHED connections to `port`, by their local (source) address, from /proc/net/tcp,
// where addresses are hex in network byte order read as a little-endian word: 127.0.0.2 is
// 0200007F.
std::map<std::string, int> established_sources(std::uint16_t port) {
    std::ifstream in("/proc/net/tcp");
    std::map<std::string, int> sources;
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (state != "01" || remote.size() < 13) continue;
        if (std::stoul(remote.substr(9), nullptr, 16) != port) continue;
        const unsigned long address = std::stoul(local.substr(0, 8), nullptr, 16);
        sources[fmt::format("127.0.0.{}", (address >> 24) & 0xff)] += 1;
    }
    return sources;
}

}  // namespace

TEST_CASE("hold_connections spreads its connections round its source addresses and holds them",
          "[hold_connections]") {
    tp::EmbeddedServer server = tp::test::start_fibserver({"--model", "epoll"});
    const auto endpoint = server.endpoint();
    tp::SubprocessOptions options;
    options.stdin_pipe = true;
    tp::Subprocess holder({tp::test::program("hold_connections"), "--connect",
                           fmt::format("{}:{}", endpoint.host, endpoint.port), "--connections",
                           "30", "--sources", "3"},
                          options);
    const auto line = holder.read_line(30s);
    REQUIRE(line);
    const nlohmann::json report = nlohmann::json::parse(*line);
    CHECK(report["opened"] == 30);
    CHECK(report["served"] == 30);
    CHECK(report["stopped_by"] == "done");
    CHECK(report["open_s"].get<double>() > 0);

    // Held until its standard input closes: 10 from each of 127.0.0.1, .2 and .3.
    const auto sources = established_sources(endpoint.port);
    CHECK(sources ==
          std::map<std::string, int>{{"127.0.0.1", 10}, {"127.0.0.2", 10}, {"127.0.0.3", 10}});
    holder.close_stdin();
    const auto exit = holder.wait_for(10s);
    REQUIRE(exit);
    CHECK(exit->how == tp::ProcessExit::How::exited);
    CHECK(exit->number == 0);
    server.stop(10s);
}

TEST_CASE("hold_connections: bad source counts are usage errors naming the flag",
          "[hold_connections]") {
    for (const char* sources : {"0", "255", "many"}) {
        INFO(sources);
        const auto run = tp::test::run_program("hold_connections",
                                               {"--connect", "127.0.0.1:1", "--sources", sources});
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Contains("--sources"));
    }
}
