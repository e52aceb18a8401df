#include "embedded_server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace tp {
namespace {

using Clock = std::chrono::steady_clock;

// Reads whatever `fd` has until a newline, EOF or the deadline. Returns false on EOF/timeout.
bool read_line_until(int fd, std::string& line, Clock::time_point deadline) {
    for (;;) {
        const auto nl = line.find('\n');
        if (nl != std::string::npos) {
            line.resize(nl);
            return true;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        char buf[512];
        const ssize_t n = read_some(fd, buf, sizeof buf);
        if (n <= 0) return false;
        line.append(buf, static_cast<std::size_t>(n));
    }
}

// The last words of the server's stderr. It goes to a memory file rather than a pipe so that a
// server with much to say never blocks on a pipe nobody reads during a long run.
std::string tail_of(int fd, std::size_t max_bytes = 2048) {
    std::string out;
    if (fd < 0) return out;
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size <= 0) return out;
    const off_t from =
        size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
    out.resize(static_cast<std::size_t>(size - from));
    const ssize_t n = ::pread(fd, out.data(), out.size(), from);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return fmt::format("killed by signal {} ({})", WTERMSIG(status),
                           ::strsignal(WTERMSIG(status)));
    return "stopped";
}

}  // namespace

bool parse_readiness_line(const std::string& line, ReadinessLine& out) {
    static const std::regex pattern(
        R"(^fibserver: listening on ([0-9.]+):([0-9]+) model=(\S+) pid=([0-9]+)\s*$)");
    std::smatch m;
    if (!std::regex_match(line, m, pattern)) return false;
    try {
        out.endpoint = parse_endpoint(m[1].str() + ":" + m[2].str());
    } catch (const std::invalid_argument&) {
        return false;
    }
    out.model = m[3].str();
    out.pid = static_cast<pid_t>(std::stol(m[4].str()));
    return true;
}

std::vector<std::string> measurement_server_limits(std::uint64_t connections) {
    // The probe's own connections (checking the server answers) come on top.
    constexpr std::uint64_t kProbeOwn = 16;
    return {"--max-connections", std::to_string(connections + kProbeOwn), "--idle-timeout", "none"};
}

std::string sibling_program(const std::string& name) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::system_error(ec, "cannot locate this program (/proc/self/exe)");
    return (self.parent_path() / name).string();
}

EmbeddedServer EmbeddedServer::start(const std::string& binary,
                                     const std::vector<std::string>& args,
                                     std::chrono::milliseconds ready_timeout) {
    if (::access(binary.c_str(), X_OK) != 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("cannot run {}", binary));
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    Fd err_file(::memfd_create("fibserver-stderr", MFD_CLOEXEC));
    if (!err_file) {
        const int saved = errno;
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        throw std::system_error(saved, std::generic_category(), "memfd_create");
    }
    std::vector<std::string> argv_storage{binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec.
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took hold
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // An ignored SIGPIPE survives exec; the server decides for itself.
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        ::sigaction(SIGPIPE, &default_action, nullptr);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_file.get(), STDERR_FILENO);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);

    EmbeddedServer server;
    server.pid_ = pid;
    server.reaped_ = false;
    server.stdout_.reset(out_pipe[0]);
    server.stderr_ = std::move(err_file);

    std::string line;
    const bool got_line = read_line_until(server.stdout_.get(), line, Clock::now() + ready_timeout);
    ReadinessLine ready;
    if (!got_line || !parse_readiness_line(line, ready)) {
        const bool was_alive = server.alive();
        if (was_alive) server.stop(std::chrono::milliseconds(500));
        std::string said = tail_of(server.stderr_.get());
        if (said.empty()) said = line;
        throw std::runtime_error(
            fmt::format("fibserver did not become ready{}: {}",
                        was_alive ? fmt::format(" within {} ms", ready_timeout.count())
                                  : " (" + server.how_it_ended() + ")",
                        said.empty() ? "(it printed nothing)" : said));
    }
    server.endpoint_ = ready.endpoint;
    server.model_ = ready.model;
    return server;
}

EmbeddedServer::EmbeddedServer(EmbeddedServer&& other) noexcept
    : pid_(other.pid_),
      wait_status_(other.wait_status_),
      reaped_(other.reaped_),
      endpoint_(std::move(other.endpoint_)),
      model_(std::move(other.model_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {
    other.pid_ = -1;
    other.reaped_ = true;
}

EmbeddedServer::~EmbeddedServer() {
    if (!reaped_) stop();
}

bool EmbeddedServer::alive() {
    if (reaped_) return false;
    int status = 0;
    pid_t rc;
    do {
        rc = ::waitpid(pid_, &status, WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return true;
    reaped_ = true;
    wait_status_ = status;
    return false;
}

std::string EmbeddedServer::how_it_ended() const {
    return reaped_ ? describe_status(wait_status_) : "still running";
}

std::string EmbeddedServer::stderr_tail() const {
    return tail_of(stderr_.get());
}

int EmbeddedServer::stop(std::chrono::milliseconds grace) {
    if (alive()) {
        ::kill(pid_, SIGTERM);
        const auto deadline = Clock::now() + grace;
        while (alive() && Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (alive()) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            reaped_ = true;
            wait_status_ = status;
        }
    }
    if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
    if (WIFSIGNALED(wait_status_)) return 128 + WTERMSIG(wait_status_);
    return -1;
}

}  // namespace tp
