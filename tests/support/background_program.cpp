#include "background_program.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace tp::test {
namespace {

std::string contents(int fd) {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
}

}  // namespace

BackgroundProgram::BackgroundProgram(const std::string& name,
                                     const std::vector<std::string>& args) {
    out_.reset(::memfd_create("program-stdout", MFD_CLOEXEC));
    err_.reset(::memfd_create("program-stderr", MFD_CLOEXEC));
    if (!out_ || !err_) throw std::system_error(errno, std::generic_category(), "memfd_create");
    const std::string path = program(name);
    std::vector<std::string> storage{path};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
        ::setpgid(0, 0);
        ::dup2(out_.get(), STDOUT_FILENO);
        ::dup2(err_.get(), STDERR_FILENO);
        ::execv(path.c_str(), argv.data());
        ::_exit(127);
    }
    // Also here, so that the group exists before the test signals it, whoever runs first.
    ::setpgid(pid_, pid_);
}

BackgroundProgram::~BackgroundProgram() {
    if (reaped_) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

ProgramRun BackgroundProgram::finish(std::chrono::milliseconds timeout) {
    ProgramRun run;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid_, &status, WNOHANG);
        if (done == pid_) break;
        if (done < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "waitpid");
        if (std::chrono::steady_clock::now() >= deadline) {
            run.timed_out = true;
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    reaped_ = true;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = contents(out_.get());
    run.err = contents(err_.get());
    return run;
}

}  // namespace tp::test
