// The fault battery (issue 6): hostile input, clients that misbehave and resources that run
// out, against every concurrency model each fault applies to, and probes interrupted or left
// without their server. Every case ends by checking that the server still answers fib(10) with
// 55. Loopback only; counts are bounded, every read has a deadline, and nothing asserts how fast
// anything is -- only what the server did and what it kept.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "background_program.hpp"
#include "embedded_server.hpp"
#include "model.hpp"
#include "net.hpp"
#include "process_tree.hpp"
#include "python_server.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"
#include "server.hpp"
#include "test_client.hpp"

namespace {

using tp::test::read_json;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

using tp::test::children_of;
using tp::test::Client;
using tp::test::cpu_seconds;
using tp::test::fibserver_path;
using tp::test::kSanitized;
using tp::test::status_value;

const std::vector<std::string> kAllModels = {"iterative", "threads", "gil",  "pool",
                                             "threshold", "prefork", "epoll"};
// The models that hold every client in one process at once (the others serve one client per
// process and leave the rest in the listen queue, by design).
const std::vector<std::string> kConcurrentModels = {"threads", "gil", "pool", "threshold", "epoll"};

// The article's Python server's models, which get the hostile-input and reset cases too:
// "python:MODEL" in the cases' model lists.
const std::vector<std::string> kPythonModels = {"python:iterative", "python:threads", "python:pool",
                                                "python:threshold", "python:prefork"};
std::vector<std::string> with_python(std::vector<std::string> models) {
    models.insert(models.end(), kPythonModels.begin(), kPythonModels.end());
    return models;
}
bool is_python(const std::string& model) {
    return model.rfind("python:", 0) == 0;
}

// fibserver with `model` and `extra` options; the models with worker processes get two.
// "python:MODEL" is server/python/fibserver.py under the python3 on PATH (check first that
// there is one).
tp::EmbeddedServer start_model(const std::string& model, std::vector<std::string> extra = {}) {
    if (is_python(model)) {
        std::vector<std::string> args = {std::string(TP_SOURCE_DIR) + "/server/python/fibserver.py",
                                         "--model",
                                         model.substr(7),
                                         "--port",
                                         "0",
                                         "--workers",
                                         "2"};
        args.insert(args.end(), extra.begin(), extra.end());
        return tp::EmbeddedServer::start(tp::find_on_path("python3").value_or("python3"), args,
                                         20s);
    }
    std::vector<std::string> args = {"--model", model};
    const bool has_workers = model == "pool" || model == "threshold" || model == "prefork";
    if (has_workers && std::find(extra.begin(), extra.end(), "--workers") == extra.end())
        args.insert(args.end(), {"--workers", "2"});
    args.insert(args.end(), extra.begin(), extra.end());
    return tp::test::start_fibserver(args);
}

// The check every case ends with.
void check_still_serves(tp::EmbeddedServer& server) {
    REQUIRE(server.alive());
    Client c(server.endpoint());
    CHECK(c.ask("10\n") == "55\n");
}

// Stops the server and checks it ended well: status 0 (an ASan report would change it), no
// UBSan report (which does not), and no Python traceback (a connection thread that died).
void check_clean_stop(tp::EmbeddedServer& server) {
    CHECK(server.stop() == 0);
    CHECK_THAT(server.stderr_tail(), !Catch::Contains("runtime error") &&
                                         !Catch::Contains("Sanitizer") &&
                                         !Catch::Contains("Traceback"));
}

// False, with a WARN saying why, where a Python model cannot run here.
bool can_run(const std::string& model) {
    if (!is_python(model) || tp::find_on_path("python3")) return true;
    WARN("skipped " << model << ": no python3 on PATH");
    return false;
}

// Entries of /proc/PID/fd: the descriptors the process holds.
long open_descriptors(pid_t pid) {
    std::error_code ec;
    long count = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
         !ec && it != end; it.increment(ec))
        ++count;
    return count;
}

// Ends a connection with a reset rather than a FIN, as a crashed or impatient client does.
void reset(Client& c) {
    const linger abort_on_close{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    c.close();
}

// Sends `bytes` without waiting on a server that stops reading: gives up at the first error
// (the server closed) or when the socket takes nothing for `patience`. Returns the bytes sent.
std::size_t send_what_it_takes(int fd, std::string_view bytes, std::chrono::milliseconds patience) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n =
            ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(patience.count())) == 0) break;
    }
    return sent;
}

enum class Heard { nothing, closed, data };

// What the server did to this connection within `wait`: nothing, closed it, or sent something.
Heard listen_to(Client& c, std::chrono::milliseconds wait) {
    const auto got = c.read_within(wait);
    if (!got) return Heard::nothing;
    return got->empty() ? Heard::closed : Heard::data;
}

// Waits until `pid` has `count` live children; returns them.
std::vector<pid_t> wait_for_children(pid_t pid, std::size_t count) {
    const auto deadline = Clock::now() + 10s;
    std::vector<pid_t> children = children_of(pid);
    while (children.size() != count && Clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        children = children_of(pid);
    }
    return children;
}

// Waits until one of `processes` has used CPU: it is computing what it was sent.
std::optional<pid_t> wait_until_computing(const std::vector<pid_t>& processes) {
    const auto deadline = Clock::now() + 10s;
    std::vector<double> before;
    for (const pid_t p : processes) before.push_back(cpu_seconds(p));
    while (Clock::now() < deadline) {
        for (std::size_t i = 0; i < processes.size(); ++i)
            if (cpu_seconds(processes[i]) - before[i] >= 0.05) return processes[i];
        std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
}

std::filesystem::path temp_path(const std::string& name) {
    return tp::test::temp_path("fault", name);
}

}  // namespace

// ---- hostile input ----

TEST_CASE("fault: hostile bytes get error lines or a close, and cost no memory", "[fault]") {
    const std::string model = GENERATE(from_range(with_python(kAllModels)));
    if (!can_run(model)) return;
    auto server = start_model(model);
    check_still_serves(server);  // also the first connection's one-off costs, before measuring
    const long anon_before = status_value(server.pid(), "RssAnon");

    SECTION("1 MiB without a newline: cut off after --max-line, then closed") {
        Client c(server.endpoint());
        const std::size_t sent = send_what_it_takes(c.fd(), std::string(1 << 20, '7'), 2s);
        INFO(sent << " bytes sent before the server stopped taking them");
        CHECK(c.read_line() == "error: request longer than 128 bytes\n");
        CHECK(c.closed_by_server());
    }
    SECTION("binary garbage: one error line per line, the connection stays usable") {
        std::mt19937 random(6);  // fixed seed: a failure replays
        constexpr int kLines = 64;
        std::string garbage;
        for (int i = 0; i < kLines; ++i) {
            const std::size_t length = 1 + random() % 100;  // inside --max-line
            std::string line;
            for (std::size_t j = 0; j < length; ++j) {
                const auto byte = static_cast<char>(random() % 256);
                line += byte == '\n' ? '\x80' : byte;
            }
            line[random() % length] = static_cast<char>(0x80 | (random() % 128));  // never a number
            garbage += line + "\n";
        }
        Client c(server.endpoint());
        const std::string replies = c.ask(garbage, kLines);
        CHECK(std::count(replies.begin(), replies.end(), '\n') == kLines);
        std::size_t errors = 0;
        for (std::size_t at = 0; (at = replies.find("error: ", at)) != std::string::npos; ++at)
            ++errors;
        CHECK(errors == kLines);
        CHECK(c.ask("10\n") == "55\n");
    }
    SECTION("NUL bytes are not digits") {
        Client c(server.endpoint());
        CHECK(c.ask(std::string("\0\n", 2)) == "error: not a number\n");
        CHECK(c.ask(std::string("1\0"
                                "0\n",
                                4)) == "error: not a number\n");
        CHECK(c.ask(std::string(100, '\0') + "\n") == "error: not a number\n");
        CHECK(c.ask("10\n") == "55\n");
    }
    SECTION("negative and enormous n: refused before any work, whatever their size") {
        Client c(server.endpoint());
        CHECK(c.ask("-1\n") == "error: negative number\n");
        CHECK(c.ask("-99999999999999999999999999\n") == "error: negative number\n");
        CHECK(c.ask("93\n") == "error: n above the limit of 47\n");
        // 2^32 and 2^64 + 1: a parser that wrapped around would compute fib(0) or fib(1).
        CHECK(c.ask("4294967296\n") == "error: n above the limit of 47\n");
        CHECK(c.ask("18446744073709551617\n") == "error: n above the limit of 47\n");
        CHECK(c.ask("99999999999999999999999999999999999999\n") ==
              "error: n above the limit of 47\n");
        CHECK(c.ask("10\n") == "55\n");
    }

    check_still_serves(server);
    const long anon_after = status_value(server.pid(), "RssAnon");
    INFO(model << ": server RssAnon " << anon_before << " -> " << anon_after << " KiB");
    // Buffering the megabyte, or a line per garbage line, would show as 1 MiB or more. CPython
    // may take a new 256 KiB arena of its allocator for the objects of a few requests.
    if (!kSanitized) CHECK(anon_after - anon_before < (is_python(model) ? 768 : 256));
    check_clean_stop(server);
}

// ---- clients that go away, stall, or come in floods ----

TEST_CASE("fault: thousands of connections reset mid-conversation leave nothing behind",
          "[fault]") {
    const std::string model = GENERATE(from_range(with_python(kAllModels)));
    if (!can_run(model)) return;
    auto server = start_model(model);
    check_still_serves(server);
    std::this_thread::sleep_for(100ms);  // the check's connection thread ends
    const long descriptors_before = open_descriptors(server.pid());
    const long threads_before = status_value(server.pid(), "Threads");

    constexpr int kConnections = 2000;
    for (int i = 0; i < kConnections; ++i) {
        Client c(server.endpoint());
        if (i % 3 == 1) REQUIRE(c.send("4"));     // half a request
        if (i % 3 == 2) REQUIRE(c.send("20\n"));  // a request whose reply meets the reset
        reset(c);
    }
    check_still_serves(server);

    // Whatever those connections held is given back: descriptors, and connection threads.
    const auto deadline = Clock::now() + 20s;
    long descriptors = open_descriptors(server.pid());
    long threads = status_value(server.pid(), "Threads");
    while ((descriptors > descriptors_before || threads > threads_before) &&
           Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        descriptors = open_descriptors(server.pid());
        threads = status_value(server.pid(), "Threads");
    }
    INFO(model << ": descriptors " << descriptors_before << " -> " << descriptors << ", threads "
               << threads_before << " -> " << threads);
    CHECK(descriptors <= descriptors_before);
    CHECK(threads <= threads_before);
    check_clean_stop(server);
}

TEST_CASE("fault: --idle-timeout closes stalled and trickling clients, not busy ones",
          "[fault][idle]") {
    const std::string model = GENERATE(from_range(kAllModels));
    // A long grace: unterminated bytes wait for their newline, so half a request stays half.
    auto server = start_model(model, {"--idle-timeout", "1s", "--raw-grace", "30s"});

    Client staller(server.endpoint());
    REQUIRE(staller.send("4"));  // half a request, then silence
    // Bytes keep coming, but no request ever completes: a trickle must not keep it open.
    Client trickler(server.endpoint());
    CHECK(listen_to(staller, 300ms) == Heard::nothing);  // not before its time

    // One byte every 100 ms for at most 10 s is fewer than --max-line's 128: a close can only
    // be the idle timeout's. (iterative serves the trickler once the staller is gone.)
    Heard staller_end = Heard::nothing, trickler_end = Heard::nothing;
    std::size_t trickled = 0;
    const auto deadline = Clock::now() + 10s;
    while ((staller_end == Heard::nothing || trickler_end == Heard::nothing) &&
           Clock::now() < deadline) {
        if (trickler_end == Heard::nothing && ::send(trickler.fd(), "1", 1, MSG_NOSIGNAL) == 1)
            ++trickled;
        if (staller_end == Heard::nothing) staller_end = listen_to(staller, 50ms);
        if (trickler_end == Heard::nothing) trickler_end = listen_to(trickler, 50ms);
    }
    INFO(model << ": " << trickled << " bytes trickled");
    CHECK(staller_end == Heard::closed);
    CHECK(trickler_end == Heard::closed);
    CHECK(trickled < 128);

    // Complete requests keep a connection open well past the timeout.
    Client busy(server.endpoint());
    for (int i = 0; i < 15; ++i) {
        REQUIRE(busy.ask("1\n") == "1\n");
        std::this_thread::sleep_for(100ms);
    }
    check_still_serves(server);
    check_clean_stop(server);
}

TEST_CASE("fault: --idle-timeout closes a client that leaves its replies unread", "[fault][idle]") {
    const std::string model = GENERATE(from_range(kAllModels));
    auto server = start_model(model, {"--idle-timeout", "1s"});
    Client hog(server.endpoint());
    REQUIRE(hog.ask("1\n") == "1\n");
    // Requests that are errors: answered inline in every model (no worker round trip), each
    // with a 20-byte line, so the replies fill the socket buffers quickly. (Not a shrunken
    // receive buffer: the kernel then takes the replies in a trickle of retransmissions, which is
    // progress, and rightly keeps the connection open.)
    std::string burst;
    for (int i = 0; i < 4096; ++i) burst += "x\n";
    std::size_t sent = 0;
    for (int i = 0; i < 4096; ++i) {  // at most 32 MiB
        const std::size_t took = send_what_it_takes(hog.fd(), burst, 500ms);
        sent += took;
        if (took < burst.size()) break;  // the server stopped reading: its replies are stuck
    }
    INFO(model << ": " << sent << " bytes of requests sent, replies never read");

    // Without reading (which would let the replies move), wait for the server to hang up.
    const auto deadline = Clock::now() + 15s;
    bool hung_up = false;
    while (!hung_up && Clock::now() < deadline) {
        pollfd p{hog.fd(), POLLRDHUP, 0};
        hung_up = ::poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    }
    CHECK(hung_up);
    hog.close();
    check_still_serves(server);
    check_clean_stop(server);
}

// iterative is left out: it serves one client at a time, so a stalled client holds up every
// other until --idle-timeout closes it (the case above shows that it does).
TEST_CASE("fault: without --idle-timeout, stalled clients cost only their own connections",
          "[fault][idle]") {
    const std::string model =
        GENERATE(as<std::string>{}, "threads", "gil", "pool", "threshold", "prefork", "epoll");
    // prefork serves one client per worker: two stall, the third worker serves.
    const bool prefork = model == "prefork";
    auto server = start_model(
        model, {"--idle-timeout", "none", "--raw-grace", "30s", "--workers", prefork ? "3" : "2"});
    std::vector<Client> stallers;
    for (int i = 0; i < (prefork ? 2 : 20); ++i) {
        stallers.emplace_back(server.endpoint());
        REQUIRE(stallers.back().send("4"));
    }
    Client other(server.endpoint());
    for (int i = 0; i < 5; ++i) CHECK(other.ask("10\n") == "55\n");
    for (auto& s : stallers) CHECK(listen_to(s, 20ms) == Heard::nothing);  // still waiting
    check_clean_stop(server);
}

TEST_CASE("fault: a flood above --max-connections is refused, the clients in are unaffected",
          "[fault][capacity]") {
    const std::string model = GENERATE(from_range(kConcurrentModels));
    constexpr int kMax = 8;
    auto server = start_model(model, {"--max-connections", std::to_string(kMax)});
    std::vector<Client> in;
    for (int i = 0; i < kMax; ++i) {
        in.emplace_back(server.endpoint());
        REQUIRE(in.back().ask("10\n") == "55\n");
    }

    constexpr int kFlood = 200;
    const std::string refusal = "error: too many connections (max 8)\n";
    int refused = 0, closed = 0;
    for (int i = 0; i < kFlood; ++i) {
        Client extra(server.endpoint());
        if (extra.read_line() == refusal) ++refused;
        if (extra.closed_by_server()) ++closed;
    }
    CHECK(refused == kFlood);
    CHECK(closed == kFlood);
    for (auto& c : in) CHECK(c.ask("20\n") == "6765\n");

    // A client that leaves frees its place (once its connection has ended on the server too).
    in.pop_back();
    std::string reply;
    for (int attempt = 0; attempt < 100 && reply != "55\n"; ++attempt) {
        Client newcomer(server.endpoint());
        reply = newcomer.ask("10\n");
        if (reply != "55\n") std::this_thread::sleep_for(50ms);
    }
    CHECK(reply == "55\n");
    CHECK(server.stop() == 0);
    CHECK_THAT(server.stderr_tail(), Catch::Contains("refused: too many connections"));
}

// prefork holds one client per worker, as iterative holds one: past them, clients wait in the
// listen queue (the article's point about prefork) and --max-connections caps the workers.
TEST_CASE("fault: prefork under --max-connections runs fewer workers and queues the rest",
          "[fault][capacity]") {
    auto server = start_model("prefork", {"--workers", "4", "--max-connections", "2"});
    CHECK(wait_for_children(server.pid(), 2).size() == 2);
    CHECK_THAT(server.stderr_tail(), Catch::Contains("--max-connections 2 runs 2 prefork workers"));
    auto first = std::make_optional<Client>(server.endpoint());
    Client second(server.endpoint());
    CHECK(first->ask("10\n") == "55\n");
    CHECK(second.ask("10\n") == "55\n");
    Client third(server.endpoint());
    REQUIRE(third.send("10\n"));
    CHECK(listen_to(third, 300ms) == Heard::nothing);  // queued, neither refused nor served
    CHECK(second.ask("20\n") == "6765\n");
    first.reset();
    CHECK(third.read_line() == "55\n");
    check_clean_stop(server);
}

// ---- resources that run out ----

TEST_CASE("fault: out of descriptors, it waits for one without spinning", "[fault][limits]") {
    // iterative and prefork hold one client per process: they never fill their table.
    const std::string model = GENERATE(from_range(kConcurrentModels));
    auto server =
        tp::EmbeddedServer::start("/bin/sh", {"-c", "ulimit -n 32 && exec \"$0\" \"$@\"",
                                              fibserver_path(), "--port", "0", "--model", model});
    std::vector<Client> clients;
    bool stalled = false;
    for (int i = 0; i < 64 && !stalled; ++i) {
        clients.emplace_back(server.endpoint());
        REQUIRE(clients.back().send("10\n"));
        stalled = !clients.back().read_within(300ms).has_value();
    }
    REQUIRE(stalled);  // the last client waits in the listen queue

    const double cpu_before = cpu_seconds(server.pid());
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(1s);
    const double cpu = cpu_seconds(server.pid()) - cpu_before;
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    INFO(model << ": server used " << cpu << " s of CPU in " << elapsed << " s while full");
    // A loop on the readable listener would take a whole core; backing off takes next to none.
    CHECK(cpu < 0.2 * elapsed);

    CHECK(clients.front().ask("20\n") == "6765\n");  // the clients in are served while it is full
    clients.front().close();
    CHECK(clients.back().read_lines() == "55\n");  // and it accepts again once one frees
    CHECK_THAT(server.stderr_tail(), Catch::Contains("Too many open files"));
    clients.clear();
    check_still_serves(server);
    check_clean_stop(server);
}

TEST_CASE(
    "fault: threads model, a thread that cannot be started fails its connection only "
    "(injected)",
    "[fault][limits]") {
    // The model in this process, with a thread starter that fails every other connection the
    // way pthread_create does at a thread limit.
    tp::ServerConfig config;
    config.model = tp::ModelKind::threads;
    int starts = 0;
    auto model = tp::make_threads_model(
        config, [&starts](const pthread_attr_t& attributes, void* (*body)(void*), void* argument) {
            if (starts++ % 2 == 1) return EAGAIN;
            pthread_t thread;
            return ::pthread_create(&thread, &attributes, body, argument);
        });
    tp::Fd listener = tp::listen_tcp("127.0.0.1", 0, 64);
    const tp::Endpoint endpoint{"127.0.0.1", tp::local_port(listener.get())};
    int stop_pipe[2];
    REQUIRE(::pipe(stop_pipe) == 0);
    tp::Fd stop_reader(stop_pipe[0]), stop_writer(stop_pipe[1]);
    tp::ServeSummary summary;
    std::thread serving([&] { summary = model->serve(listener.get(), stop_reader.get()); });

    std::vector<Client> served;
    for (int i = 0; i < 6; ++i) {
        Client c(endpoint);
        if (i % 2 == 0) {
            CHECK(c.ask("10\n") == "55\n");
            served.push_back(std::move(c));
        } else {
            CHECK(c.read_line() ==
                  "error: cannot create thread: Resource temporarily unavailable\n");
            CHECK(c.closed_by_server());
        }
    }
    for (auto& c : served) CHECK(c.ask("20\n") == "6765\n");  // the others go on being served
    served.clear();

    REQUIRE(::write(stop_writer.get(), "x", 1) == 1);
    serving.join();
    CHECK(summary.accepted == 6);
    CHECK(summary.thread_failures == 3);
}

TEST_CASE("fault: a thread that cannot be created fails its connection only (RLIMIT_AS)",
          "[fault][limits]") {
    if (kSanitized) return;  // RLIMIT_AS cannot hold a sanitizer's shadow memory
    const std::string model = GENERATE(as<std::string>{}, "threads", "gil", "pool", "threshold");
    // Each connection thread reserves 256 MiB; under a 384 MiB address-space limit the first
    // fits beside the server's own few MiB and a second cannot.
    auto server = tp::EmbeddedServer::start(
        "/bin/sh", {"-c", "ulimit -v 393216 && exec \"$0\" \"$@\"", fibserver_path(), "--port", "0",
                    "--model", model, "--workers", "1", "--stack", "256m"});
    Client first(server.endpoint());
    REQUIRE(first.ask("10\n") == "55\n");

    std::string refused;
    std::vector<Client> others;
    for (int i = 0; i < 4 && refused.empty(); ++i) {
        others.emplace_back(server.endpoint());
        const std::string reply = others.back().ask("10\n");
        if (reply != "55\n") refused = reply;
    }
    CHECK_THAT(refused, Catch::StartsWith("error: cannot create thread: "));
    CHECK(others.back().closed_by_server());
    CHECK(first.ask("20\n") == "6765\n");
    CHECK(server.alive());
    CHECK_THAT(server.stderr_tail(), Catch::Contains("cannot create a connection thread"));
    CHECK(server.stop() == 0);
    CHECK_THAT(server.stderr_tail(), Catch::Contains("refused: no thread could be created"));
}

TEST_CASE("fault: a worker process killed mid-request fails that request only, and is replaced",
          "[fault][workers]") {
    const std::string model = GENERATE(as<std::string>{}, "pool", "threshold", "epoll");
    // fib(50) takes a minute here: the worker is killed long before it could finish.
    std::vector<std::string> args = {"--workers", "1", "--max-n", "50"};
    if (model != "pool") args.insert(args.end(), {"--threshold", "20"});
    auto server = start_model(model, args);
    const std::vector<pid_t> workers = wait_for_children(server.pid(), 1);
    REQUIRE(workers.size() == 1);
    Client c(server.endpoint());
    REQUIRE(c.ask("25\n") == "75025\n");  // above the threshold: computed by the worker
    REQUIRE(c.send("50\n"));
    REQUIRE(wait_until_computing(workers) == workers.front());
    REQUIRE(::kill(workers.front(), SIGKILL) == 0);
    CHECK(c.read_line() == "error: worker failed\n");
    CHECK(c.ask("30\n") == "832040\n");  // its replacement computes the next one
    const std::vector<pid_t> now = wait_for_children(server.pid(), 1);
    REQUIRE(now.size() == 1);
    CHECK(now.front() != workers.front());
    check_still_serves(server);
    check_clean_stop(server);
}

TEST_CASE("fault: a prefork worker killed mid-request takes only its own client",
          "[fault][workers]") {
    auto server = start_model("prefork", {"--workers", "2", "--max-n", "50"});
    const std::vector<pid_t> workers = wait_for_children(server.pid(), 2);
    REQUIRE(workers.size() == 2);
    Client other(server.endpoint());
    REQUIRE(other.ask("10\n") == "55\n");
    Client doomed(server.endpoint());
    REQUIRE(doomed.send("50\n"));
    const std::optional<pid_t> computing = wait_until_computing(workers);
    REQUIRE(computing);
    REQUIRE(::kill(*computing, SIGKILL) == 0);
    CHECK(doomed.closed_by_server());  // its connection died with the worker
    CHECK(other.ask("20\n") == "6765\n");
    other.close();
    // Replaced: two workers again, the killed one not among them.
    const auto deadline = Clock::now() + 10s;
    std::vector<pid_t> now = children_of(server.pid());
    while ((now.size() != 2 || std::count(now.begin(), now.end(), *computing) != 0) &&
           Clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        now = children_of(server.pid());
    }
    CHECK(now.size() == 2);
    CHECK(std::count(now.begin(), now.end(), *computing) == 0);
    check_still_serves(server);
    check_clean_stop(server);
}

// ---- probes that are interrupted, or lose their server ----

namespace {

// Waits until `pid` runs at least `threads` threads (its connection threads are up).
bool wait_for_threads(pid_t pid, long threads, std::chrono::seconds limit = 60s) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
        if (status_value(pid, "Threads") >= threads) return true;
        if (::kill(pid, 0) != 0) return false;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

// The probe's embedded fibserver: its child running build/bin/fibserver.
std::optional<pid_t> embedded_server_of(pid_t probe) {
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
        for (const auto& p : tp::test::list_processes())
            if (p.ppid == probe && p.name == "fibserver") return p.pid;
        std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
}

// limitprobe's search child for the stack size it is trying, once it holds `threads` (not the
// fibserver, nor the forecast's sample children before it, which hold fewer and end at once).
std::optional<pid_t> search_child_of(pid_t probe, long threads) {
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
        for (const auto& p : tp::test::list_processes())
            if (p.ppid == probe && p.name != "fibserver" && p.state != 'Z' &&
                status_value(p.pid, "Threads") >= threads)
                return p.pid;
        if (::kill(probe, 0) != 0) return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
}

// Nothing the probe started outlives it: no process it forked (seen mid-run), nothing in its
// own process group or its server's.
void check_nothing_left(const std::vector<tp::test::ProcessEntry>& seen_mid_run, pid_t probe,
                        pid_t server) {
    const auto left = tp::test::left_behind(seen_mid_run, {probe, server}, 3s);
    INFO("left behind: " << tp::test::describe(left));
    CHECK(left.empty());
}

// limitprobe --connections well into its first stack size: its server up, its child holding at
// least 200 connection threads, and every process of the run recorded.
struct LimitprobeMidRun {
    tp::test::BackgroundProgram probe;
    pid_t server = 0;
    std::vector<tp::test::ProcessEntry> family;

    explicit LimitprobeMidRun(const std::filesystem::path& path)
        : probe("limitprobe", {"--stack=16k,64k", "--connections", "--max=3000", "--time-limit=60s",
                               "--json", path.string(), "--quiet"}) {
        const std::optional<pid_t> embedded = embedded_server_of(probe.pid());
        REQUIRE(embedded);
        server = *embedded;
        REQUIRE(search_child_of(probe.pid(), 200));
        family = tp::test::family_of(probe.pid(), {probe.pid(), server});
    }
};

}  // namespace

TEST_CASE("fault: Ctrl-C during threadprobe's hold keeps what it measured and leaves nothing",
          "[fault][probes]") {
    constexpr int kThreads = 50;
    const auto path = temp_path("threadprobe-int.json");
    tp::test::BackgroundProgram probe("threadprobe", {"--threads=50", "--stack=64k", "--hold=60s",
                                                      "--json", path.string(), "--quiet"});
    const std::optional<pid_t> server = embedded_server_of(probe.pid());
    REQUIRE(server);
    REQUIRE(wait_for_threads(probe.pid(), kThreads + 1));  // connection threads and the sampler
    REQUIRE(wait_for_threads(*server, kThreads + 1));      // and the server's, for each of them
    const auto family = tp::test::family_of(probe.pid(), {probe.pid(), *server});
    INFO("mid-run: " << tp::test::describe(family));
    CHECK(
        std::any_of(family.begin(), family.end(), [&](const auto& p) { return p.pid == *server; }));

    REQUIRE(::kill(-probe.pid(), SIGINT) == 0);  // the terminal signals the job's group
    const auto run = probe.finish(30s);          // well before the 60 s hold would end
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 130);
    const json r = read_json(path);
    std::filesystem::remove(path);
    CHECK(r["summary"]["interrupted"] == true);
    CHECK(r["summary"]["connections"] == kThreads);
    CHECK(r["samples"].size() >= 3);
    CHECK(r["config"]["server"]["pid"] == *server);
    check_nothing_left(family, probe.pid(), *server);
}

TEST_CASE("fault: threadprobe's server killed mid-run: it says so, keeps the results, exits 1",
          "[fault][probes]") {
    constexpr int kThreads = 50;
    const auto path = temp_path("threadprobe-died.json");
    tp::test::BackgroundProgram probe("threadprobe", {"--threads=50", "--stack=64k", "--hold=60s",
                                                      "--json", path.string(), "--quiet"});
    const std::optional<pid_t> server = embedded_server_of(probe.pid());
    REQUIRE(server);
    REQUIRE(wait_for_threads(*server, kThreads + 1));
    const auto family = tp::test::family_of(probe.pid(), {probe.pid(), *server});

    REQUIRE(::kill(*server, SIGKILL) == 0);
    const auto run = probe.finish(30s);  // the hold ends with the server, not 60 s later
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err,
               Catch::Contains("threadprobe: the server died mid-run: killed by signal 9"));
    const json r = read_json(path);
    std::filesystem::remove(path);
    CHECK_THAT(r["summary"]["server_died"].get<std::string>(),
               Catch::Contains("killed by signal 9"));
    CHECK(r["summary"]["interrupted"] == false);
    CHECK(r["samples"].size() >= 3);
    check_nothing_left(family, probe.pid(), *server);
}

TEST_CASE(
    "fault: SIGINT during limitprobe --connections keeps the rows, stops the server, "
    "leaves nothing",
    "[fault][probes]") {
    // kill -INT reaches the probe alone; a terminal's Ctrl-C its whole group, its child too.
    const bool whole_group = GENERATE(false, true);
    const auto path = temp_path("limitprobe-int.json");
    LimitprobeMidRun run_state(path);
    auto& probe = run_state.probe;
    const std::optional<pid_t> server = run_state.server;
    const auto& family = run_state.family;
    INFO("mid-run: " << tp::test::describe(family));

    REQUIRE(::kill(whole_group ? -probe.pid() : probe.pid(), SIGINT) == 0);
    const auto run = probe.finish(60s);
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 130);
    const json r = read_json(path);
    std::filesystem::remove(path);
    CHECK(r["interrupted"] == true);
    REQUIRE_FALSE(r["results"].empty());
    const json& last = r["results"].back();
    CHECK(last["stopped_by"] == "interrupted");
    CHECK(last["threads_reached"].get<int>() >= 200);
    check_nothing_left(family, probe.pid(), *server);
}

TEST_CASE("fault: limitprobe's server killed mid-run: it says so, keeps the rows, exits 1",
          "[fault][probes]") {
    const auto path = temp_path("limitprobe-died.json");
    LimitprobeMidRun run_state(path);
    auto& probe = run_state.probe;
    const std::optional<pid_t> server = run_state.server;
    const auto& family = run_state.family;

    REQUIRE(::kill(*server, SIGKILL) == 0);
    const auto run = probe.finish(60s);
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::Contains("limitprobe: the server died mid-run: killed by signal 9"));
    const json r = read_json(path);
    std::filesystem::remove(path);
    CHECK_THAT(r["server_died"].get<std::string>(), Catch::Contains("killed by signal 9"));
    CHECK(r["interrupted"] == false);
    CHECK(r["results"].size() == 1);  // the attempt under way, and none after it
    check_nothing_left(family, probe.pid(), *server);
}
