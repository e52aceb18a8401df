// bare_spawn: the bare reference for threadprobe's ramp. N pthreads at one stack size, each
// connecting once over loopback, asking the same fib(n) threadprobe's threads ask and parking
// on one futex until released: the same work threadprobe's connection threads do, and nothing
// else (no sampling, no bookkeeping, no reply check beyond "an answer came"). It prints one JSON
// line: {"spawn_s": first pthread_create to the last thread answered, "connected", "failed"}.
//
// The server is whatever --connect names; scripts/bench starts the same fibserver for this
// program and for threadprobe, so the server's side of every connection costs both the same.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "cli.hpp"
#include "net.hpp"
#include "thread_stack.hpp"

namespace {

struct Ramp {
    sockaddr_in server{};
    char request[8] = {};
    std::size_t request_len = 0;
    std::atomic<std::uint64_t> threads{0};  // lowered if pthread_create fails part-way
    std::atomic<std::uint64_t> settled{0};
    std::atomic<std::uint64_t> failed{0};
    // 0 until main releases every thread; a futex word, waited on without spinning.
    std::atomic<std::uint32_t> released{0};
};

// Straight to the kernel: std::atomic::wait would first spin and sched_yield a few times in
// each of ten thousand threads, which on two cores is measurable churn.
void park_until_released(std::atomic<std::uint32_t>& released) {
    while (released.load() == 0)
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&released), FUTEX_WAIT_PRIVATE, 0,
                  nullptr, nullptr, 0);
}

void release_all(std::atomic<std::uint32_t>& released) {
    released.store(1);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&released), FUTEX_WAKE_PRIVATE, INT_MAX,
              nullptr, nullptr, 0);
}

void* connect_ask_and_park(void* arg) {
    auto& ramp = *static_cast<Ramp*>(arg);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char reply[32];
    const bool answered =
        fd >= 0 &&
        ::connect(fd, reinterpret_cast<const sockaddr*>(&ramp.server), sizeof ramp.server) == 0 &&
        ::send(fd, ramp.request, ramp.request_len, MSG_NOSIGNAL) ==
            static_cast<ssize_t>(ramp.request_len) &&
        ::recv(fd, reply, sizeof reply, 0) > 0 && reply[0] >= '0' && reply[0] <= '9';
    if (!answered) ramp.failed.fetch_add(1);
    // The last thread to settle wakes main, which then stops the clock.
    if (ramp.settled.fetch_add(1) + 1 == ramp.threads) ramp.settled.notify_one();
    park_until_released(ramp.released);
    if (fd >= 0) ::close(fd);
    return nullptr;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    std::string connect;
    tp::Count threads{10000};
    tp::StackSize stack{};
    tp::Count request{10};
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("connect", po::value(&connect)->required()->value_name("HOST:PORT"), "the fibserver to connect to")
        ("threads,n", po::value(&threads)->value_name("N"), "threads to spawn (default 10000)")
        ("stack,s", po::value(&stack)->value_name("SIZE"), "pthread stack size (default: default)")
        ("request", po::value(&request)->value_name("N"), "each thread asks for fib(N) (default 10)");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("bare_spawn", "--connect HOST:PORT [options]",
                                                 options, argc, argv, vm))
        return *done;
    tp::require_range("threads", threads.value, 1, 1'000'000);
    tp::require_range("request", request.value, 0, 92);
    const tp::Endpoint endpoint = tp::parse_endpoint(connect);

    Ramp ramp;
    ramp.threads = threads.value;
    ramp.server.sin_family = AF_INET;
    ramp.server.sin_port = htons(endpoint.port);
    if (::inet_pton(AF_INET, endpoint.host.c_str(), &ramp.server.sin_addr) != 1)
        throw tp::UsageError(fmt::format("option '--connect': '{}' is not IPv4", endpoint.host));
    ramp.request_len =
        fmt::format_to_n(ramp.request, sizeof ramp.request - 1, "{}\n", request.value).size;

    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    const auto stack_bytes = tp::thread_stack_for(stack, "bare_spawn");
    if (stack_bytes) {
        if (const int rc = ::pthread_attr_setstacksize(&attr, *stack_bytes); rc != 0)
            throw std::system_error(rc, std::generic_category(), "pthread_attr_setstacksize");
    }
    std::vector<pthread_t> spawned(threads.value);
    std::uint64_t created = 0;
    int create_error = 0;

    const auto start = std::chrono::steady_clock::now();
    for (; created < threads.value; ++created) {
        create_error = ::pthread_create(&spawned[created], &attr, connect_ask_and_park, &ramp);
        if (create_error != 0) break;
    }
    if (create_error != 0) ramp.threads = created;  // the ones that exist still settle
    for (std::uint64_t s = ramp.settled.load(); s < ramp.threads.load(); s = ramp.settled.load())
        ramp.settled.wait(s);
    const double spawn_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    release_all(ramp.released);
    for (std::uint64_t i = 0; i < created; ++i) ::pthread_join(spawned[i], nullptr);
    ::pthread_attr_destroy(&attr);

    fmt::print("{{\"spawn_s\": {:.6f}, \"threads\": {}, \"connected\": {}, \"failed\": {}}}\n",
               spawn_s, created, created - ramp.failed.load(), ramp.failed.load());
    if (create_error != 0)
        fmt::print(stderr, "bare_spawn: pthread_create failed after {} threads: {}\n", created,
                   std::generic_category().message(create_error));
    return create_error == 0 && ramp.failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("bare_spawn", [&] { return run(argc, argv); });
}
