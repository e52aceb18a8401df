#include "child_run.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "net.hpp"

namespace tp {
namespace {

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

[[noreturn]] void child_main(const std::function<void(const ChildChannel&)>& body, int fd) {
    const ChildChannel channel(fd);
    prepare_to_crash();
    try {
        body(channel);
    } catch (const std::exception& e) {
        channel.fail(e.what());
    }
    // _exit, not exit: the parent's stdio buffers and atexit handlers are not the child's.
    ::_exit(0);
}

std::string read_until_closed(int fd, std::chrono::steady_clock::time_point deadline,
                              bool& timed_out) {
    std::string text;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            return text;
        }
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;  // the deadline check above ends it
        char buf[512];
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return text;  // every copy of the write end is closed: the child is gone
        if (text.size() < 4096) text.append(buf, static_cast<std::size_t>(got));
    }
}

}  // namespace

void ChildChannel::fail(std::string_view why) const {
    std::string_view left = why;
    while (!left.empty()) {
        const ssize_t n = ::write(fd_, left.data(), left.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        left.remove_prefix(static_cast<std::size_t>(n));
    }
    ::_exit(3);
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
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        read_end.reset();
        child_main(body, write_end.get());
    }
    write_end.reset();

    ChildOutcome outcome;
    outcome.message = read_until_closed(read_end.get(), std::chrono::steady_clock::now() + timeout,
                                        outcome.timed_out);
    if (outcome.timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    return outcome;
}

}  // namespace tp
