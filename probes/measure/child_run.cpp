#include "child_run.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>

#include "net.hpp"
#include "stop_signal.hpp"

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

// A dozen crashing children per run must not leave a dozen core files, nor wake a core
// handler (systemd-coredump, apport) that would log and compress each one: a non-dumpable
// process is never dumped, whatever core_pattern says, and RLIMIT_CORE 0 covers the rest.
void prepare_to_crash() {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // The overflow must end the child with the signal the parent expects, not with a handler
    // (ASan installs one) that reports a "stack-overflow" and exits.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    ::sigaction(SIGSEGV, &default_action, nullptr);
    ::sigaction(SIGBUS, &default_action, nullptr);
}

[[noreturn]] void child_main(const std::function<void(const ChildChannel&)>& body, int fd,
                             bool crash_quietly) {
    const ChildChannel channel(fd);
    if (crash_quietly) prepare_to_crash();
    try {
        body(channel);
    } catch (const std::exception& e) {
        channel.fail(e.what());
    }
    // _exit, not exit: the parent's stdio buffers and atexit handlers are not the child's.
    ::_exit(0);
}

// Milliseconds from now to `t` for poll(), at least 0; -1 (no limit) without a `t`.
int poll_timeout_ms(const std::optional<Clock::time_point>& t) {
    if (!t) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*t - Clock::now()).count();
    return static_cast<int>(std::max<decltype(left)>(left, 0));
}

// Reads what the child says until every copy of the pipe's write end is closed (the child is
// gone), passing a stop on to it. Kills it at the timeout (and says so) or when the grace after
// a stop has run out; it is then still to be reaped.
std::string read_until_closed(int fd, pid_t child, const ChildRunOptions& options,
                              bool& timed_out) {
    std::string text;
    std::optional<Clock::time_point> deadline;
    if (options.timeout) deadline = Clock::now() + *options.timeout;
    std::optional<Clock::time_point> kill_at;  // set once a stop was passed on
    for (;;) {
        if (options.stop && !kill_at && options.stop->requested()) {
            ::kill(child, SIGTERM);
            kill_at = Clock::now() + options.stop_grace;
        }
        const auto now = Clock::now();
        if ((deadline && now >= *deadline) || (kill_at && now >= *kill_at)) {
            timed_out = deadline && now >= *deadline;
            ::kill(child, SIGKILL);
            return text;
        }
        const auto wake =
            deadline && kill_at ? std::min(*deadline, *kill_at) : (deadline ? deadline : kill_at);
        // Until a stop is passed on, it wakes the loop too.
        const int stop_fd = options.stop && !kill_at ? options.stop->fd() : -1;
        std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}}};
        const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(wake));
        if (ready < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        if (ready <= 0 || fds[0].revents == 0) continue;  // the checks above end it
        char buf[8192];
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return text;  // every copy of the write end is closed: the child is gone
        const std::size_t room =
            options.max_message_bytes > text.size() ? options.max_message_bytes - text.size() : 0;
        text.append(buf, std::min(room, static_cast<std::size_t>(got)));
    }
}

// Writes all of `text`; false if the pipe would not take it.
bool write_whole(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

void ChildChannel::report(std::string_view text) const {
    ::_exit(write_whole(fd_, text) ? 0 : 1);
}

void ChildChannel::fail(std::string_view why) const {
    write_whole(fd_, why);
    ::_exit(kFailedExit);
}

void ChildChannel::fail(std::string_view what, int error) const {
    fail(fmt::format("{}: {}", what, std::strerror(error)));
}

std::string ChildOutcome::describe() const {
    std::string text;
    if (timed_out) {
        text = "timed out";
    } else if (signal != 0) {
        const char* name = ::sigabbrev_np(signal);
        text = name ? fmt::format("SIG{}", name) : fmt::format("signal {}", signal);
    } else {
        text = fmt::format("exit {}", exit_code);
    }
    if (!message.empty()) text += ": " + message;
    return text;
}

ChildOutcome run_in_child(const std::function<void(const ChildChannel&)>& body,
                          std::chrono::milliseconds timeout) {
    ChildRunOptions options;
    options.timeout = timeout;
    return run_in_child(body, options);
}

ChildOutcome run_in_child(const std::function<void(const ChildChannel&)>& body,
                          const ChildRunOptions& options) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        read_end.reset();
        child_main(body, write_end.get(), options.crash_quietly);
    }
    write_end.reset();

    ChildOutcome outcome;
    outcome.message = read_until_closed(read_end.get(), pid, options, outcome.timed_out);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    return outcome;
}

}  // namespace tp
