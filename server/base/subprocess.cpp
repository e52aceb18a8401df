#include "subprocess.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <string.h>  // strsignal
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::generic_category(), what);
}

struct Pipe {
    Fd read_end;
    Fd write_end;
};

Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe");
    return {Fd(fds[0]), Fd(fds[1])};
}

Fd make_memory_file(const char* name) {
    Fd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) throw_errno(errno, "memfd_create");
    return fd;
}

// What the child does between fork and exec, prepared before the fork: from there on only
// async-signal-safe calls are allowed, so nothing in the child allocates.
struct ChildSetup {
    std::vector<char*> argv;
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: inherited
    bool own_process_group = false;
    int parent_death_signal = 0;
    pid_t parent = -1;
    const std::vector<ResourceLimit>* limits = nullptr;
    int report_fd = -1;  // errno of a failed step goes here; exec closes it on success
};

[[noreturn]] void fail_in_child(int report_fd) {
    const int error = errno;
    [[maybe_unused]] const ssize_t n = ::write(report_fd, &error, sizeof error);
    ::_exit(127);
}

[[noreturn]] void run_child(const ChildSetup& s) {
    if (s.own_process_group && ::setpgid(0, 0) != 0) fail_in_child(s.report_fd);
    if (s.parent_death_signal != 0) {
        if (::prctl(PR_SET_PDEATHSIG, s.parent_death_signal) != 0) fail_in_child(s.report_fd);
        if (::getppid() != s.parent) ::_exit(127);  // the parent died before prctl took hold
    }
    // A parent's blocked signals and ignored SIGPIPE survive exec; the program decides its own.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &default_action, nullptr);
    const int targets[] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    const int sources[] = {s.stdin_fd, s.stdout_fd, s.stderr_fd};
    for (int i = 0; i < 3; ++i)
        if (sources[i] >= 0 && ::dup2(sources[i], targets[i]) < 0) fail_in_child(s.report_fd);
    for (const ResourceLimit& l : *s.limits) {
        const rlimit limit{l.value, l.value};
        if (::setrlimit(l.resource, &limit) != 0) fail_in_child(s.report_fd);
    }
    ::execv(s.argv[0], s.argv.data());
    fail_in_child(s.report_fd);
}

// Blocks until the child has exec'd (the report pipe closes with nothing in it) or failed (it
// holds the errno). Only this child has the write end: it is close-on-exec in the parent.
int child_setup_error(Fd& report) {
    int error = 0;
    for (;;) {
        const ssize_t n = ::read(report.get(), &error, sizeof error);
        if (n < 0 && errno == EINTR) continue;
        return n == static_cast<ssize_t>(sizeof error) ? error : 0;
    }
}

// How `pid` ended, once it has (waiting for that unless WNOHANG); std::nullopt while it runs.
// A child someone else reaped (SIGCHLD ignored makes the kernel do it) has ended, how is lost.
std::optional<ProcessExit> reap(pid_t pid, int flags) {
    int status = 0;
    pid_t got;
    do {
        got = ::waitpid(pid, &status, flags);
    } while (got < 0 && errno == EINTR);
    if (got == 0) return std::nullopt;
    if (got < 0) return ProcessExit{ProcessExit::How::lost, 0};
    return ProcessExit::from_wait_status(status);
}

}  // namespace

ProcessExit ProcessExit::from_wait_status(int status) {
    if (WIFSIGNALED(status)) return {How::killed, WTERMSIG(status)};
    return {How::exited, WEXITSTATUS(status)};
}

int ProcessExit::exit_code() const {
    switch (how) {
        case How::exited:
            return number;
        case How::killed:
            return 128 + number;
        case How::lost:
            break;
    }
    return -1;
}

std::string ProcessExit::description() const {
    switch (how) {
        case How::exited:
            return fmt::format("exited with status {}", number);
        case How::killed:
            return fmt::format("killed by signal {} ({})", number, ::strsignal(number));
        case How::lost:
            break;
    }
    return "ended, reaped by someone else";
}

Subprocess::Subprocess(std::vector<std::string> argv, const SubprocessOptions& options) {
    if (argv.empty()) throw std::invalid_argument("Subprocess: no program to run");
    if (options.err == Capture::pipe)
        throw std::invalid_argument("Subprocess: stderr goes to a memory file, not a pipe");

    Fd their_stdin, their_stdout;
    if (options.stdin_pipe) {
        Pipe p = make_pipe();
        stdin_ = std::move(p.write_end);
        their_stdin = std::move(p.read_end);
    }
    if (options.out == Capture::pipe) {
        Pipe p = make_pipe();
        out_ = std::move(p.read_end);
        their_stdout = std::move(p.write_end);
    } else if (options.out == Capture::memory) {
        out_ = make_memory_file("subprocess-stdout");
        out_is_memory_ = true;
    }
    if (options.err == Capture::memory) err_ = make_memory_file("subprocess-stderr");
    Pipe report = make_pipe();

    ChildSetup setup;
    for (auto& a : argv) setup.argv.push_back(a.data());
    setup.argv.push_back(nullptr);
    setup.stdin_fd = their_stdin ? their_stdin.get() : -1;
    setup.stdout_fd = their_stdout ? their_stdout.get() : out_ ? out_.get() : -1;
    setup.stderr_fd = err_ ? err_.get() : -1;
    setup.own_process_group = options.own_process_group;
    setup.parent_death_signal = options.parent_death_signal;
    setup.parent = ::getpid();
    setup.limits = &options.limits;
    setup.report_fd = report.write_end.get();

    const pid_t pid = ::fork();
    if (pid < 0) throw_errno(errno, "fork");
    if (pid == 0) run_child(setup);
    report.write_end.reset();
    if (const int error = child_setup_error(report.read_end)) {
        reap(pid, 0);
        throw_errno(error, fmt::format("cannot run {}", argv.front()));
    }
    pid_ = pid;
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_(other.exit_),
      stdin_(std::move(other.stdin_)),
      out_(std::move(other.out_)),
      out_is_memory_(other.out_is_memory_),
      err_(std::move(other.err_)),
      unread_(std::move(other.unread_)) {}

Subprocess::~Subprocess() {
    if (pid_ <= 0 || exit_) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, 0);
}

bool Subprocess::running() {
    if (exit_ || pid_ <= 0) return false;
    exit_ = reap(pid_, WNOHANG);
    return !exit_;
}

std::string Subprocess::how_it_ended() const {
    return exit_ ? exit_->description() : "still running";
}

void Subprocess::signal(int signal) {
    if (pid_ > 0 && !exit_) ::kill(pid_, signal);
}

std::optional<ProcessExit> Subprocess::wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    // Short naps first: most children asked to stop are gone within a millisecond or two.
    auto nap = std::chrono::milliseconds(1);
    while (running()) {
        const auto now = Clock::now();
        if (now >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::min<Clock::duration>(nap, deadline - now));
        nap = std::min(nap * 2, std::chrono::milliseconds(10));
    }
    return exit_;
}

ProcessExit Subprocess::kill() {
    if (!running()) return exit_.value_or(ProcessExit{ProcessExit::How::lost, 0});
    ::kill(pid_, SIGKILL);
    exit_ = reap(pid_, 0);
    return *exit_;
}

ProcessExit Subprocess::stop(std::chrono::milliseconds grace) {
    signal(SIGTERM);
    if (const auto ended = wait_for(grace)) return *ended;
    return kill();
}

std::optional<std::string> Subprocess::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (const auto nl = unread_.find('\n'); nl != std::string::npos) {
            std::string line = unread_.substr(0, nl);
            unread_.erase(0, nl + 1);
            return line;
        }
        if (!out_) return std::nullopt;
        const auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) return std::nullopt;
        // Rounded up: poll's milliseconds, truncated, would end the wait before the deadline.
        const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(left);
        pollfd p{out_.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left_ms.count()));
        if (ready <= 0) continue;  // EINTR or the deadline, which the check above ends
        char buf[4096];
        const ssize_t n = read_some(out_.get(), buf, sizeof buf);
        if (n <= 0) {
            out_.reset();
            if (unread_.empty()) return std::nullopt;
            return std::exchange(unread_, std::string());
        }
        unread_.append(buf, static_cast<std::size_t>(n));
    }
}

std::string Subprocess::output_text(Stream stream) const {
    return read_memory_file(stream, std::string::npos);
}

std::string Subprocess::tail(Stream stream, std::size_t max_bytes) const {
    std::string text = read_memory_file(stream, max_bytes);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

std::string Subprocess::read_memory_file(Stream stream, std::size_t max_bytes) const {
    const int fd = stream == Stream::err ? err_.get() : out_is_memory_ ? out_.get() : -1;
    std::string text;
    if (fd < 0) return text;
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size <= 0) return text;
    const auto wanted = std::min(static_cast<std::size_t>(size), max_bytes);
    text.resize(wanted);
    std::size_t got = 0;
    while (got < wanted) {
        const ssize_t n =
            ::pread(fd, text.data() + got, wanted - got, size - static_cast<off_t>(wanted - got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return text;
}

}  // namespace tp
