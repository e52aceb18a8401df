// The article's Python server (server/python/fibserver.py) against the real CPython: every
// model speaks fibserver's protocol and stops cleanly on SIGTERM, and threadprobe --pid finds
// its threads' stacks, sized by RLIMIT_STACK as the article measured (8 MiB by default).
#include "python_server.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "embedded_server.hpp"
#include "process_tree.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// python3 from PATH, as the probes and scripts/reproduce run it; empty, after a WARN saying the
// case is skipped, where there is none.
std::string python3_or_skip() {
    const std::string python = tp::find_on_path("python3").value_or("");
    if (python.empty()) WARN("skipped: no python3 on PATH, the article's Python server cannot run");
    return python;
}

tp::EmbeddedServer start_python(const std::string& python, const std::string& model) {
    return tp::EmbeddedServer::start(python,
                                     {std::string(TP_SOURCE_DIR) + "/server/python/fibserver.py",
                                      "--model", model, "--port", "0", "--workers", "2"},
                                     20s);
}

// RLIMIT_STACK's soft value of a process, in bytes; nullopt when unlimited.
std::optional<std::uint64_t> stack_limit(pid_t pid) {
    std::ifstream limits(fmt::format("/proc/{}/limits", pid));
    for (std::string line; std::getline(limits, line);)
        if (line.rfind("Max stack size", 0) == 0) {
            std::istringstream rest(line.substr(14));
            std::string soft;
            rest >> soft;
            if (soft == "unlimited") return std::nullopt;
            return std::stoull(soft);
        }
    return std::nullopt;
}

}  // namespace

TEST_CASE("the Python server speaks fibserver's protocol in every model and stops on SIGTERM",
          "[python]") {
    const std::string python = python3_or_skip();
    if (python.empty()) return;
    for (const std::string model : {"iterative", "threads", "pool", "threshold", "prefork"}) {
        INFO(model);
        auto server = start_python(python, model);
        CHECK(server.model() == "python:" + model);
        tp::test::Client client(server.endpoint());
        CHECK(client.ask("10\n") == "55\n");
        CHECK(client.ask("20\n") == "6765\n");  // above the threshold model's 15: the pool's
        CHECK(client.ask("ten\n") == "error: not a number\n");
        CHECK(client.ask("-1\n") == "error: negative number\n");
        CHECK(client.ask("48\n") == "error: n above the limit of 47\n");
        // The article's uninterruptible instruction, answered as Python answers it.
        CHECK(client.ask("spam 1000\n") == "False\n");
        CHECK(client.ask("spam 1000000001\n") ==
              "error: spam count above the limit of 1000000000\n");
        // The article's perf1.py: no newline, and the reply still comes.
        CHECK(client.ask("25") == "75025\n");
        // A request split across two segments is one request.
        CHECK(client.send("1"));
        ::usleep(10000);
        CHECK(client.ask("2\n") == "144\n");
        CHECK(server.stop() == 0);
    }
}

TEST_CASE("the pre-forked Python server stops on a SIGTERM that came while it forked its workers",
          "[python]") {
    const std::string python = python3_or_skip();
    if (python.empty()) return;
    // It says it is ready, then forks: a SIGTERM at once lands among the forks (the server
    // once lost it in the interpreter's after-fork hooks, every time in 10 tries, and never
    // stopped).
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto server =
            tp::EmbeddedServer::start(python,
                                      {std::string(TP_SOURCE_DIR) + "/server/python/fibserver.py",
                                       "--model", "prefork", "--port", "0", "--workers", "16"},
                                      20s);
        const pid_t pid = server.pid();
        const int status = server.stop();
        // Workers of a server that had to be killed outlive it, in its process group: ended
        // here by pid, so that a failure leaves nothing running.
        const auto left = tp::test::left_behind({}, {pid}, 2s);
        for (const auto& p : left) ::kill(p.pid, SIGKILL);
        INFO("attempt " << attempt << ": left behind " << tp::test::describe(left));
        CHECK(status == 0);
        CHECK(left.empty());
    }
}

TEST_CASE("threadprobe --pid finds the Python server's thread stacks at RLIMIT_STACK's size",
          "[python][live]") {
    const std::string python = python3_or_skip();
    if (python.empty()) return;
    auto server = start_python(python, "threads");
    const auto limit = stack_limit(server.pid());
    // A thread each, blocked in recv once answered.
    std::vector<std::unique_ptr<tp::test::Client>> clients;
    for (int i = 0; i < 8; ++i) {
        clients.push_back(std::make_unique<tp::test::Client>(server.endpoint()));
        REQUIRE(clients.back()->ask("15\n") == "610\n");
    }
    const json r = tp::test::run_for_json("threadprobe", {"--pid", std::to_string(server.pid())});
    CHECK(r["process"]["threads"] == 9);
    const json& h = r["high_water"];
    REQUIRE(h.is_object());
    CHECK(h["threads"] == 8);
    // glibc sizes a default thread stack by RLIMIT_STACK (the article's 8 MiB); the guard page
    // is apart from what is reserved for the stack.
    if (limit) {
        CHECK(h["reserved_p50_kib"].get<std::uint64_t>() == *limit / 1024);
    } else {
        WARN("RLIMIT_STACK is unlimited here: glibc's fallback stack size is not checked");
    }
    // An interpreter's recv() is deeper than a page, and far from the stack's end.
    CHECK(h["min_kib"].get<std::uint64_t>() >= 4);
    CHECK(h["max_kib"].get<std::uint64_t>() < h["reserved_p50_kib"].get<std::uint64_t>());
    CHECK(server.stop() == 0);
}

TEST_CASE("latencyprobe and rateprobe start the Python server with --server-model python:MODEL",
          "[python]") {
    if (python3_or_skip().empty()) return;
    const json l = tp::test::run_for_json(
        "latencyprobe", {"--server-model", "python:threads", "--clients=2", "--n=20", "--count=3"});
    CHECK(l["config"]["server_model"] == "python:threads");
    CHECK_THAT(l["config"]["server"].get<std::string>(),
               Catch::Contains("model=python:threads") && Catch::Contains("(embedded)"));
    // Every request of both clients answered, by the real interpreter.
    CHECK(l["summary"]["overall"]["requests"] == 6);

    const json r = tp::test::run_for_json(
        "rateprobe", {"--server-model", "python:pool", "--workers", "2", "--duration=1s"});
    CHECK(r["config"]["server_model"] == "python:pool");
    CHECK(r["summary"]["baseline_rps"].get<double>() > 0);
}

TEST_CASE("a Python server model it lacks, or fibserver's flags, are usage errors", "[python]") {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--server-model", "python:gil"},
          {"--server-model", "python:epoll"},
          {"--server-model", "python:threads", "--server-stack", "64k"},
          {"--server-model", "python:threads", "--switch-interval", "5ms"}}) {
        const auto run = tp::test::run_program("latencyprobe", args);
        INFO(args[1] << " " << run.err);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::StartsWith("latencyprobe: error: option '--"));
    }
}
