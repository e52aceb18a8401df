// The server a probe talks to: the fibserver command line built in one place, the options that
// choose it, and the identity a result records, which must read back as it was written.
#include "target_server.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include "probe_server_options.hpp"

namespace {

using namespace std::chrono_literals;

// The value after `flag` in `args`, or "" if the flag is not there.
std::string value_of(const std::vector<std::string>& args, const std::string& flag) {
    const auto at = std::find(args.begin(), args.end(), flag);
    return at == args.end() || at + 1 == args.end() ? "" : *(at + 1);
}

// server_source() on a probe's command line.
tp::ServerSource source_from(std::vector<std::string> args, std::uint64_t connections = 4) {
    tp::ServerOptions o;
    tp::po::options_description options("options");
    tp::add_server_options(options, o);
    args.insert(args.begin(), "probe");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    tp::po::variables_map vm;
    tp::parse_command_line("probe", "", options, static_cast<int>(argv.size()), argv.data(), vm);
    return tp::server_source(o, vm, connections);
}

}  // namespace

TEST_CASE("a fibserver launch: loopback, ephemeral port, room for the probe, no idle timeout",
          "[server-target]") {
    tp::FibserverLaunch launch;
    launch.model = "gil";
    launch.connections = 1000;
    const auto plain = launch.args();
    CHECK(value_of(plain, "--model") == "gil");
    CHECK(value_of(plain, "--port") == "0");
    CHECK(value_of(plain, "--bind") == "127.0.0.1");
    CHECK(std::stoull(value_of(plain, "--max-connections")) > 1000);
    CHECK(value_of(plain, "--idle-timeout") == "none");
    for (const char* unset : {"--stack", "--workers", "--threshold", "--switch-interval"})
        CHECK(value_of(plain, unset).empty());

    launch.stack = 65536;
    launch.workers = 3;
    launch.threshold = 15;
    launch.switch_interval = 2ms;
    const auto full = launch.args();
    CHECK(value_of(full, "--stack") == "65536");
    CHECK(value_of(full, "--workers") == "3");
    CHECK(value_of(full, "--threshold") == "15");
    CHECK(value_of(full, "--switch-interval") == "2000000ns");
}

TEST_CASE("the server options choose a running server or a launch", "[server-target]") {
    const auto running = source_from({"--connect=127.0.0.1:25000"});
    REQUIRE(std::holds_alternative<tp::RunningServer>(running));
    CHECK(std::get<tp::RunningServer>(running).endpoint.port == 25000);

    const auto launch =
        source_from({"--server-model=pool", "--workers=2", "--server-stack=64k"}, 7);
    REQUIRE(std::holds_alternative<tp::FibserverLaunch>(launch));
    const auto& l = std::get<tp::FibserverLaunch>(launch);
    CHECK(l.model == "pool");
    CHECK(l.workers == 2u);
    CHECK(l.stack == 65536u);
    CHECK(l.connections == 7);
    CHECK_FALSE(l.threshold.has_value());

    CHECK_THROWS_WITH(source_from({"--connect=nowhere"}),
                      Catch::StartsWith("option '--connect': "));
    CHECK_THROWS_WITH(source_from({"--connect=127.0.0.1:1", "--workers=2"}),
                      Catch::StartsWith("option '--workers': only for an embedded server"));
    CHECK_THROWS_WITH(source_from({"--server-model=nope"}),
                      Catch::StartsWith("option '--server-model': unknown model 'nope'"));
    CHECK_THROWS_WITH(source_from({"--workers=0"}), "option '--workers': must be at least 1");
}

TEST_CASE("a server's identity: its description, and JSON that reads back", "[server-target]") {
    const tp::ServerIdentity embedded{{"127.0.0.1", 41237}, 1234, "threads", true};
    const tp::ServerIdentity running{{"127.0.0.1", 25000}, std::nullopt, "unknown", false};
    CHECK(embedded.description() == "127.0.0.1:41237 model=threads pid=1234 (embedded)");
    CHECK(running.description() == "127.0.0.1:25000 (running)");

    for (const auto& identity : {embedded, running}) {
        const nlohmann::json j = tp::to_json(identity);
        const auto back = j.get<tp::ServerIdentity>();
        CHECK(back.endpoint.host == identity.endpoint.host);
        CHECK(back.endpoint.port == identity.endpoint.port);
        CHECK(back.pid == identity.pid);
        CHECK(back.model == identity.model);
        CHECK(back.embedded == identity.embedded);
        CHECK(tp::to_json(back) == j);
    }
    CHECK(tp::to_json(embedded) == nlohmann::json{{"endpoint", "127.0.0.1:41237"},
                                                  {"pid", 1234},
                                                  {"model", "threads"},
                                                  {"embedded", true}});
}
