// The pool, threshold, prefork and gil models end to end: the real fibserver on loopback.
// Timing checks are ratios between runs of the same test on the same machine, with generous
// margins, or counts bounded by what the server is configured to do; never absolute times or
// rates. Every read has a deadline.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "embedded_server.hpp"
#include "fib.hpp"
#include "net.hpp"
#include "request_clients.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"
#include "statistics.hpp"
#include "test_client.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tp::test::children_of;
using tp::test::Client;
using tp::test::fibserver_path;

tp::EmbeddedServer start_server(std::vector<std::string> args) {
    return tp::test::start_fibserver(std::move(args));
}

std::string expected(unsigned n) {
    return std::to_string(tp::fib_by_iteration(n)) + "\n";
}

// ThreadSanitizer slows what it instruments several times over, and unevenly: locks and
// sockets far more than fib's arithmetic. The timing tests still drive every model under it
// (that is what it checks for races), but the ratios they measure are its, not the program's.
bool timings_are_the_programs() {
    if (tp::test::kThreadSanitized) WARN("ThreadSanitizer build: timings measured, not checked");
    return !tp::test::kThreadSanitized;
}

// Waits until `pid` has `count` live children; returns them.
std::vector<pid_t> wait_for_children(pid_t pid, std::size_t count) {
    const auto deadline = Clock::now() + 10s;
    std::vector<pid_t> children;
    while (Clock::now() < deadline) {
        children = children_of(pid);
        if (children.size() == count) break;
        std::this_thread::sleep_for(10ms);
    }
    return children;
}

// Median milliseconds per fib(n) request, `requests` in a row on one connection: the median
// latencyprobe publishes (tp::latency_stats). It also runs in a client thread, where Catch2 must
// not be called: a wrong reply is left in `wrong_reply` for the test's thread to report.
double median_latency(const tp::Endpoint& to, unsigned n, int requests, std::string& wrong_reply) {
    Client c(to);
    std::vector<double> ms;
    const std::string request = std::to_string(n) + "\n";
    for (int i = 0; i < requests; ++i) {
        const auto start = Clock::now();
        const std::string reply = c.ask(request, 60s);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (reply != expected(n)) {
            wrong_reply = "fib(" + std::to_string(n) + ") got '" + reply + "'";
            break;
        }
    }
    return tp::latency_stats(ms).p50_ms;
}

struct Latencies {
    double alone = 0;
    double two = 0;  // the slower of two clients at once
};

Latencies perf1(const std::string& model, unsigned n, int requests) {
    auto server = start_server({"--model", model});
    Latencies result;
    std::string wrong_alone, wrong_first, wrong_other;
    result.alone = median_latency(server.endpoint(), n, requests, wrong_alone);
    double other = 0;
    std::thread second(
        [&] { other = median_latency(server.endpoint(), n, requests, wrong_other); });
    const double first = median_latency(server.endpoint(), n, requests, wrong_first);
    second.join();
    for (const std::string* wrong : {&wrong_alone, &wrong_first, &wrong_other})
        if (!wrong->empty()) FAIL(*wrong);
    result.two = std::max(first, other);
    return result;
}

// Tiny requests answered on one connection, asked one after another for `window`.
struct TinyRequests {
    int answered = 0;
    double seconds = 0;  // from the first request to the last reply
    double rate() const { return answered / seconds; }
};

TinyRequests tiny_requests(Client& c, std::chrono::milliseconds window) {
    const auto start = Clock::now();
    const auto end = start + window;
    TinyRequests r;
    while (Clock::now() < end) {
        if (c.ask("1\n", 5s) != "1\n") break;
        ++r.answered;
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
}

double tiny_rate(Client& c, std::chrono::milliseconds window) {
    return tiny_requests(c, window).rate();
}

struct Rates {
    double alone = 0;
    double during = 0;  // while another connection computes a long fib
};

// The article's perf2 with its interference: tiny requests alone, then while fib(long_n) runs
// on a second connection (long enough to outlast the window, even under sanitizers).
Rates perf2(const std::string& model, unsigned long_n) {
    auto server = start_server({"--model", model});
    Client tiny(server.endpoint());
    Rates rates;
    rates.alone = tiny_rate(tiny, 300ms);
    Client heavy(server.endpoint());
    REQUIRE(heavy.send(std::to_string(long_n) + "\n"));
    std::this_thread::sleep_for(30ms);  // let it start computing
    rates.during = tiny_rate(tiny, 250ms);
    CHECK(heavy.read_line(60s) == expected(long_n));
    return rates;
}

}  // namespace

TEST_CASE("fib_with_checkpoint computes fib and yields when asked", "[models]") {
    std::atomic<bool> request{true};
    struct Yields {
        std::atomic<bool>* request;
        int count = 0;
    } yields{&request};
    tp::Checkpoint checkpoint;
    checkpoint.request = &request;
    checkpoint.context = &yields;
    checkpoint.yield = [](void* context) {
        auto& y = *static_cast<Yields*>(context);
        if (++y.count == 3) y.request->store(false);
    };
    CHECK(tp::fib_with_checkpoint(30, checkpoint) == tp::fib_by_iteration(30));
    CHECK(yields.count == 3);
    CHECK(tp::fib_with_checkpoint(10, checkpoint) == 55);
}

TEST_CASE("pool, threshold, prefork and gil answer several clients at once", "[models]") {
    const std::string model = GENERATE(as<std::string>{}, "pool", "threshold", "prefork", "gil");
    auto server = start_server({"--model", model, "--workers", "3"});
    CHECK(server.model() == model);
    std::vector<std::string> failures;
    std::vector<std::thread> clients;
    std::vector<std::string> results(3);
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back([&, i] {
            Client c(server.endpoint());
            std::string log;
            log += c.ask("10\n");
            log += c.ask("nope\n");
            log += c.ask("20\n");
            log += c.ask("-3\n");
            log += c.ask("25\n");         // above the threshold model's 15
            log += c.ask("spam 1000\n");  // inline in every model, never at a worker
            results[static_cast<std::size_t>(i)] = log;
        });
    }
    for (auto& t : clients) t.join();
    for (const auto& r : results)
        CHECK(r == "55\nerror: not a number\n6765\nerror: negative number\n75025\nFalse\n");
    // The article's perf1 request: no newline.
    Client raw(server.endpoint());
    CHECK(raw.ask("30") == "832040\n");
}

TEST_CASE("prefork --workers 2 serves two clients at once and a third waits", "[models]") {
    auto server = start_server({"--model", "prefork", "--workers", "2"});
    auto first = std::make_optional<Client>(server.endpoint());
    Client second(server.endpoint());
    CHECK(first->ask("10\n") == "55\n");
    CHECK(second.ask("11\n") == "89\n");
    Client third(server.endpoint());  // connects: the kernel queues it
    REQUIRE(third.send("12\n"));
    CHECK(third.read_line(400ms).empty());
    first.reset();  // its worker takes the next client in the queue
    CHECK(third.read_line() == "144\n");
    CHECK(second.ask("13\n") == "233\n");
}

TEST_CASE("prefork workers end with the server", "[models]") {
    auto server = start_server({"--model", "prefork", "--workers", "2"});
    const pid_t pid = server.pid();
    REQUIRE(wait_for_children(pid, 2).size() == 2);
    const auto workers = children_of(pid);
    Client c(server.endpoint());
    CHECK(c.ask("5\n") == "5\n");
    CHECK(server.stop() == 0);
    for (const pid_t worker : workers) {
        const auto deadline = Clock::now() + 5s;
        while (::kill(worker, 0) == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
        CHECK(::kill(worker, 0) != 0);
    }
}

TEST_CASE("threshold computes small n inline: no worker is needed for them", "[models]") {
    auto server = start_server({"--model", "threshold", "--workers", "1", "--threshold", "15"});
    const pid_t pid = server.pid();
    const auto workers = wait_for_children(pid, 1);
    REQUIRE(workers.size() == 1);
    // With the only worker stopped, n <= 15 is still answered and n > 15 waits for it.
    REQUIRE(::kill(workers.front(), SIGSTOP) == 0);
    Client c(server.endpoint());
    CHECK(c.ask("15\n", 5s) == expected(15));
    Client big(server.endpoint());
    REQUIRE(big.send("16\n"));
    CHECK(big.read_line(300ms).empty());
    REQUIRE(::kill(workers.front(), SIGCONT) == 0);
    CHECK(big.read_line() == expected(16));
}

TEST_CASE("gil: two CPU-bound clients each take about twice as long, threads do not",
          "[models][timing]") {
    // fib(40): about 85 ms here alone, long enough for the scheduler to have spread two
    // computing threads over two cores; medians of a few requests each. This 2-core VM is
    // shared: one try can land on a busy moment (a gil "alone" of 244 ms against 135 ms
    // typical was seen), so the figures are taken over three tries.
    constexpr unsigned kN = 40;
    constexpr int kRequests = 5;
    constexpr int kTries = 3;
    const bool check_timings = timings_are_the_programs();
    std::vector<double> gil_ratios;
    for (int attempt = 0; attempt < kTries; ++attempt) {
        const Latencies gil = perf1("gil", kN, kRequests);
        UNSCOPED_INFO("gil: alone " << gil.alone << " ms, two clients " << gil.two << " ms");
        gil_ratios.push_back(gil.two / gil.alone);
    }
    // The lock serialises the two: the typical try, not a lucky or unlucky one, shows it.
    if (check_timings) CHECK(tp::median(gil_ratios) >= 1.5);
    if (std::thread::hardware_concurrency() < 2) {
        WARN("one CPU: threads cannot run two fibs at once either; that half is skipped");
        return;
    }
    // Native threads should stay near 1x; the margin is for a noisy machine (another build on
    // the same two cores measured 1.42). A GIL's 2x stays well outside it. Other work on the
    // machine, or two threads woken onto one core, only ever slow the two clients down, so the
    // best of up to three tries is what the model can do: a GIL could not reach it in any.
    double best = 0;
    for (int attempt = 0; attempt < kTries && (attempt == 0 || best >= 1.5); ++attempt) {
        const Latencies threads = perf1("threads", kN, kRequests);
        UNSCOPED_INFO("threads: alone " << threads.alone << " ms, two clients " << threads.two
                                        << " ms");
        const double ratio = threads.two / threads.alone;
        best = attempt == 0 ? ratio : std::min(best, ratio);
    }
    if (check_timings) CHECK(best < 1.5);
}

TEST_CASE("gil: tiny requests collapse while a long one runs", "[models][timing]") {
    const Rates gil = perf2("gil", 45);
    INFO("gil: alone " << gil.alone << "/s, during " << gil.during << "/s");
    // Collapsed, not stopped: the lock is still handed over now and then.
    CHECK(gil.during > 0);
    if (timings_are_the_programs()) CHECK(gil.during < 0.1 * gil.alone);
}

// Tiny requests answered in `window` while fib(44) computes on another connection of a gil
// server with this switch interval.
TinyRequests during_long_request(std::chrono::milliseconds switch_interval,
                                 std::chrono::milliseconds window) {
    auto server = start_server(
        {"--model", "gil", "--switch-interval", std::to_string(switch_interval.count()) + "ms"});
    Client tiny(server.endpoint());
    Client heavy(server.endpoint());
    REQUIRE(heavy.send("44\n"));
    std::this_thread::sleep_for(30ms);  // let it start computing
    const TinyRequests during = tiny_requests(tiny, window);
    CHECK(heavy.read_line(60s) == expected(44));
    return during;
}

TEST_CASE("gil switch interval decides the collapsed rate", "[models][timing]") {
    // While fib runs, the computing thread lets go of the lock only once a waiter has waited a
    // whole switch interval for it, and each tiny request needs it twice (after recv, after
    // send): in a window W at most W / (2 x interval) requests get through, plus the one under
    // way, whatever the machine's speed. The bound allows twice that.
    constexpr auto kWindow = 400ms;
    const TinyRequests at_5ms = during_long_request(5ms, kWindow);
    const TinyRequests at_20ms = during_long_request(20ms, kWindow);
    INFO("answered during fib(44): " << at_5ms.answered << " at 5 ms, " << at_20ms.answered
                                     << " at 20 ms");
    CHECK(at_5ms.answered <= kWindow / 5ms + 1);
    CHECK(at_20ms.answered <= kWindow / 20ms + 1);
    CHECK(at_20ms.answered > 0);
    // A quarter of the interval lets about four times as many through; wake-ups on a busy
    // machine add to both waits and narrow that, never to below 1.5.
    if (timings_are_the_programs()) CHECK(at_5ms.rate() >= 1.5 * at_20ms.rate());
}

TEST_CASE("pool and threads keep tiny requests flowing during a long one", "[models][timing]") {
    if (std::thread::hardware_concurrency() < 2) {
        WARN("one CPU: a long fib takes the only core in every model; skipped");
        return;
    }
    const std::string model = GENERATE(as<std::string>{}, "threads", "pool");
    const Rates rates = perf2(model, 44);
    INFO(model << ": alone " << rates.alone << "/s, during " << rates.during << "/s");
    if (timings_are_the_programs()) CHECK(rates.during > 0.2 * rates.alone);
}

TEST_CASE("worker and switch-interval usage errors exit 2 naming the flag", "[models]") {
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    const std::vector<Case> cases = {
        {{"--model", "pool", "--workers", "0"}, "--workers"},
        {{"--model", "prefork", "--workers", "-2"}, "--workers"},
        {{"--model", "gil", "--switch-interval", "0"}, "--switch-interval"},
        {{"--model", "threshold", "--threshold", "-1"}, "--threshold"},
        {{"--model", "threshold", "--threshold", "93"}, "--threshold"},
    };
    for (const auto& c : cases) {
        const auto run = tp::test::run_program("fibserver", c.args, tp::test::within(10s));
        INFO(c.args[2] << " " << c.args[3] << " -> " << run.err);
        CHECK(run.exit_code == 2);
        CHECK(run.err.find(c.says) != std::string::npos);
    }
}
