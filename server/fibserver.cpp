// fibserver: the article's fib server in the concurrency model chosen by --model.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <string.h>  // sigabbrev_np

#include <cstdio>
#include <limits>

#include "cli.hpp"
#include "descriptor_limit.hpp"
#include "fib.hpp"
#include "server.hpp"
#include "stop_signal.hpp"
#include "thread_stack.hpp"

namespace {

namespace po = tp::po;

// The raw option values, checked and turned into a ServerConfig by make_config(). Integers are
// Counts, so that "-1" is rejected rather than wrapped around by Boost's lexical_cast.
struct Options {
    std::string model = "threads";
    std::string handler = "fib";
    tp::StackSize stack;
    // 25000 rather than an ephemeral port: the article's perf1.py and perf2.py hard-code
    // 127.0.0.1:25000 and must run unchanged against a fibserver started by hand, as the
    // article's readers start it. Programs that start fibserver themselves (the probes, the
    // tests) pass --port 0 and read the port from the readiness line, so they never collide.
    tp::Count port{25000};
    std::string bind = "127.0.0.1";
    tp::Count max_n{47};
    tp::Count max_line{128};
    tp::Count max_spam{tp::ProtocolLimits::kDefaultMaxSpam};
    tp::Duration raw_grace{std::chrono::milliseconds(50)};
    tp::Count backlog{4096};
    tp::Count workers{0};
    tp::Count threshold{};  // only where given
    tp::Duration switch_interval{std::chrono::milliseconds(5)};
    tp::Count max_connections{tp::ServerConfig::kDefaultMaxConnections};
    tp::OptionalDuration idle_timeout{std::chrono::minutes(5)};
};

// Descriptors beside the clients': listener, signalfd, epoll and timer, worker sockets, stdio.
constexpr std::uint64_t kDescriptorReserve = 64;
constexpr std::uint64_t kMaxConnectionsCeiling = 1'000'000'000;

po::options_description describe_options(Options& o) {
    po::options_description options("options", 100);
    // clang-format off
    options.add_options()
        ("model", po::value(&o.model)->default_value(o.model),
            ("concurrency model: " + tp::model_names() +
             " (iterative: one client at a time; threads: a pthread per connection)").c_str())
        ("handler", po::value(&o.handler)->default_value(o.handler),
            "fib: reply fib(n) to each n; echo: send bytes back as they come (the article's "
            "first server)")
        ("stack", po::value(&o.stack)->default_value(o.stack, tp::describe(o.stack)),
            "stack size of each connection thread (threads model), e.g. 16k, 64k, 8m; 'default' "
            "is glibc's (the RLIMIT_STACK soft limit, usually 8 MiB, as a Python thread gets). "
            "At least PTHREAD_STACK_MIN, at most 1 GiB, rounded up to whole pages")
        ("port", po::value(&o.port)->default_value(o.port, std::to_string(o.port.value)),
            "TCP port; 0 picks a free one (see the readiness line). 25000 is the article's, "
            "which its perf1.py and perf2.py hard-code")
        ("bind", po::value(&o.bind)->default_value(o.bind), "IPv4 address to listen on")
        ("max-n", po::value(&o.max_n)->default_value(o.max_n, std::to_string(o.max_n.value)),
            "largest n served; above it a request gets an error line. At most 92, the largest "
            "whose fib fits in a signed 64-bit integer; the default keeps one request to seconds (fib(47): 1.8 s on a 2-core x86_64 VM)")
        ("max-line", po::value(&o.max_line)->default_value(o.max_line, std::to_string(o.max_line.value)),
            ("longest request line in bytes (2 to " + std::to_string(tp::kLineCapacity) +
             "); a longer one gets an error line and the connection is closed").c_str())
        ("max-spam", po::value(&o.max_spam)->default_value(o.max_spam, std::to_string(o.max_spam.value)),
            "largest N of the request 'spam N', the article's uninterruptible instruction "
            "('spam' in range(N)): one operation that checks nothing until it ends, so that under "
            "the gil model no other thread runs meanwhile. The default is about 7 s on a 2-core "
            "x86_64 VM; 0 refuses every spam request but 'spam 0'")
        ("raw-grace", po::value(&o.raw_grace)->default_value(o.raw_grace, tp::describe(o.raw_grace)),
            "how long bytes without a newline wait for one before they count as a request "
            "(the article's clients send b'30' and wait). After that the connection is in raw "
            "mode: what each read ends with unterminated is a request at once, as in the "
            "article's server. A connection that sends a newline first stays in line mode. "
            "0 = raw from the start")
        ("backlog", po::value(&o.backlog)->default_value(o.backlog, std::to_string(o.backlog.value)),
            "listen(2) backlog (the kernel caps it at net.core.somaxconn). The article's "
            "listen(5) makes a thousand simultaneous connects overflow the queue and wait for "
            "SYN retries of 1 s and more, which would distort every spawn time measured")
        ("workers", po::value(&o.workers)->default_value(o.workers, std::to_string(o.workers.value)),
            "worker processes for pool, threshold, prefork and epoll with --threshold; 0 = one per core")
        ("threshold", po::value(&o.threshold),
            "threshold and epoll models: n above this goes to the worker pool, below it is computed "
            "inline (the article's compromise uses 15)")
        ("switch-interval", po::value(&o.switch_interval)->default_value(o.switch_interval, tp::describe(o.switch_interval)),
            "gil model: how long a waiting thread lets the lock holder run before asking it to drop "
            "the lock (CPython's sys.getswitchinterval(), 5 ms)")
        ("max-connections", po::value(&o.max_connections)->default_value(o.max_connections, std::to_string(o.max_connections.value)),
            "most client connections held at once; one more gets 'error: too many connections "
            "(max N)' and is closed, the others are unaffected. iterative and prefork hold one per "
            "process (the next client waits in the listen queue): prefork runs at most N workers. "
            "The RLIMIT_NOFILE soft limit is raised to fit, as far as the hard limit allows")
        ("idle-timeout", po::value(&o.idle_timeout)->default_value(o.idle_timeout, "5min"),
            "close a connection that completes no request for this long, or leaves its replies "
            "unread that long; bytes trickled without a newline do not keep it open. 0 or 'none': "
            "never");
    // clang-format on
    return options;
}

tp::ServerConfig make_config(const Options& o, const po::variables_map& vm) {
    tp::ServerConfig config;
    const auto model = tp::parse_model(o.model);
    if (!model)
        throw tp::UsageError(fmt::format("option '--model': unknown model '{}' (choose {})",
                                         o.model, tp::model_names()));
    config.model = *model;
    const auto handler = tp::parse_handler(o.handler);
    if (!handler)
        throw tp::UsageError(fmt::format(
            "option '--handler': unknown handler '{}' (choose fib or echo)", o.handler));
    config.connection.handler = *handler;
    config.connection.limits.max_n =
        static_cast<unsigned>(tp::require_range("max-n", o.max_n.value, 0, tp::kFibMaxN,
                                                "fib(93) does not fit in a signed 64-bit integer"));
    config.connection.limits.max_line = static_cast<std::size_t>(
        tp::require_range("max-line", o.max_line.value, 2, tp::kLineCapacity));
    config.connection.limits.max_spam = o.max_spam.value;
    if (o.raw_grace.value > std::chrono::seconds(60))
        throw tp::UsageError(
            "option '--raw-grace': at most 60s (it delays a client's first "
            "request)");
    config.connection.raw_grace = o.raw_grace.value;
    config.port = static_cast<std::uint16_t>(tp::require_range("port", o.port.value, 0, 65535));
    config.bind = o.bind;
    in_addr address{};
    if (::inet_pton(AF_INET, o.bind.c_str(), &address) != 1)
        throw tp::UsageError(
            fmt::format("option '--bind': '{}' is not an IPv4 address (e.g. 0.0.0.0)", o.bind));
    config.backlog = static_cast<int>(
        tp::require_range("backlog", o.backlog.value, 1, std::numeric_limits<int>::max()));
    if (vm.count("workers") && !vm["workers"].defaulted() && o.workers.value == 0)
        throw tp::UsageError(
            "option '--workers': 0 workers cannot compute anything (omit it for one per core)");
    config.workers = static_cast<unsigned>(tp::require_range("workers", o.workers.value, 0, 1024));
    if (vm.count("threshold")) {
        config.threshold = static_cast<unsigned>(
            tp::require_range("threshold", o.threshold.value, 0, tp::kFibMaxN));
    } else if (config.model == tp::ModelKind::threshold) {
        config.threshold = 15;  // the article's
    }
    if (o.switch_interval.value <= std::chrono::nanoseconds::zero())
        throw tp::UsageError("option '--switch-interval': must be above 0 (CPython's is 5ms)");
    config.switch_interval = o.switch_interval.value;
    tp::require_range("max-connections", o.max_connections.value, 1, kMaxConnectionsCeiling);
    config.max_connections = o.max_connections.value;
    config.connection.idle_timeout =
        o.idle_timeout.value.value_or(std::chrono::nanoseconds::zero());

    config.thread_stack = tp::thread_stack_for(o.stack, "fibserver");
    // Only the models with a thread per connection make threads of this size.
    const bool thread_per_connection =
        config.model == tp::ModelKind::threads || config.model == tp::ModelKind::gil ||
        config.model == tp::ModelKind::pool || config.model == tp::ModelKind::threshold;
    if (!vm["stack"].defaulted() && !thread_per_connection)
        fmt::print(stderr, "fibserver: note: --stack has no effect with --model {}\n", o.model);
    return config;
}

// The models that hold every connection in this one process need a descriptor for each.
void make_room_for_connections(const tp::ServerConfig& config) {
    if (config.model == tp::ModelKind::iterative || config.model == tp::ModelKind::prefork) return;
    const std::uint64_t needed = config.max_connections + kDescriptorReserve + config.workers;
    const tp::DescriptorRoom room = tp::make_room_for_descriptors(needed);
    if (!room.enough)
        fmt::print(stderr,
                   "fibserver: note: --max-connections {} needs about {} descriptors; "
                   "RLIMIT_NOFILE allows {} (hard limit {}): past that, new clients wait in the "
                   "listen queue until a descriptor frees\n",
                   config.max_connections, needed, room.after, room.hard);
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("fibserver", [&] {
        Options options;
        const po::options_description description = describe_options(options);
        po::variables_map vm;
        if (const auto exit_code =
                tp::parse_command_line("fibserver", "[options]", description, argc, argv, vm))
            return *exit_code;
        const tp::ServerConfig config = make_config(options, vm);
        make_room_for_connections(config);

        // Before the server makes any thread, so that all of them inherit the blocked signals.
        tp::StopSignal stop;
        tp::Server server(config);
        std::printf("%s\n", server.readiness_line().c_str());
        std::fflush(stdout);

        const tp::ServeSummary summary = server.run(stop.fd());
        const int signal = stop.requested() ? stop.signal_number() : 0;
        fmt::print(
            stderr, "fibserver: stopped by {} after {} connection{}{}{}\n",
            signal != 0 ? fmt::format("SIG{}", sigabbrev_np(signal)) : "request", summary.accepted,
            summary.accepted == 1 ? "" : "s",
            summary.thread_failures == 0
                ? ""
                : fmt::format(" ({} refused: no thread could be created)", summary.thread_failures),
            summary.over_capacity == 0
                ? ""
                : fmt::format(" ({} refused: too many connections)", summary.over_capacity));
        return 0;
    });
}
