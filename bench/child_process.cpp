#include "child_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace tp::bench {
namespace {

using Clock = std::chrono::steady_clock;

int decode(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

}  // namespace

ChildProcess ChildProcess::start(const std::string& binary, const std::vector<std::string>& args) {
    if (::access(binary.c_str(), X_OK) != 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("cannot run {}", binary));
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        const int saved = errno;
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        throw std::system_error(saved, std::generic_category(), "pipe");
    }
    ChildProcess child;
    child.stdin_.reset(in_pipe[1]);
    child.stdout_.reset(out_pipe[0]);
    Fd their_stdin(in_pipe[0]), their_stdout(out_pipe[1]);
    child.stderr_.reset(::memfd_create("bench-child-stderr", MFD_CLOEXEC));
    if (!child.stderr_) throw std::system_error(errno, std::generic_category(), "memfd_create");

    // argv is built before fork: the child only calls async-signal-safe functions.
    std::vector<std::string> storage{binary};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the bench died before prctl
        ::dup2(their_stdin.get(), STDIN_FILENO);
        ::dup2(their_stdout.get(), STDOUT_FILENO);
        ::dup2(child.stderr_.get(), STDERR_FILENO);
        // The bench blocks SIGINT/SIGTERM for its signalfd; the programs it runs expect them.
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    child.pid_ = pid;
    child.reaped_ = false;
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      reaped_(other.reaped_),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      buffered_(std::move(other.buffered_)) {
    other.pid_ = -1;
    other.reaped_ = true;
}

ChildProcess::~ChildProcess() {
    if (reaped_ || pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (const auto nl = buffered_.find('\n'); nl != std::string::npos) {
            std::string line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        if (!stdout_) return std::nullopt;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{stdout_.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;  // the deadline check above ends it
        char buf[4096];
        const ssize_t n = read_some(stdout_.get(), buf, sizeof buf);
        if (n <= 0) {
            stdout_.reset();
            if (buffered_.empty()) return std::nullopt;
            return std::exchange(buffered_, std::string());
        }
        buffered_.append(buf, static_cast<std::size_t>(n));
    }
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (reaped_) return -1;
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        const pid_t got = ::waitpid(pid_, &status, WNOHANG);
        if (got == pid_) break;
        if (got < 0 && errno != EINTR) return -1;
        if (Clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        ::usleep(2000);
    }
    reaped_ = true;
    return decode(status);
}

std::string ChildProcess::stderr_tail(std::size_t bytes) const {
    if (!stderr_) return "";
    const off_t size = ::lseek(stderr_.get(), 0, SEEK_END);
    if (size <= 0) return "";
    const off_t from = std::max<off_t>(0, size - static_cast<off_t>(bytes));
    std::string text(static_cast<std::size_t>(size - from), '\0');
    const ssize_t n = ::pread(stderr_.get(), text.data(), text.size(), from);
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

std::string run_to_end(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout) {
    ChildProcess child = ChildProcess::start(binary, args);
    child.close_stdin();
    const auto deadline = Clock::now() + timeout;
    std::string out;
    while (Clock::now() < deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const auto line = child.read_line(std::max(left, std::chrono::milliseconds(1)));
        if (!line) break;
        out += *line + "\n";
    }
    const bool late = Clock::now() >= deadline;
    const int code = child.wait(
        late ? std::chrono::milliseconds(1)
             : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (code != 0) {
        const std::string name = std::filesystem::path(binary).filename();
        const std::string said = child.stderr_tail();
        const std::string how =
            late         ? fmt::format("did not finish within {} s", timeout.count() / 1000.0)
            : code > 128 ? fmt::format("was killed by signal {}", code - 128)
                         : fmt::format("exited with {}", code);
        throw std::runtime_error(
            fmt::format("{} {}{}", name, how, said.empty() ? "" : ": " + said));
    }
    return out;
}

}  // namespace tp::bench
