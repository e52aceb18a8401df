#include "stop_signal.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace tp {
namespace {

sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

}  // namespace

StopSignal::StopSignal() {
    const sigset_t set = stop_signals();
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throw std::system_error(errno, std::generic_category(), "signalfd");
    if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        throw std::system_error(errno, std::generic_category(), "signal(SIGPIPE)");
}

StopSignal::~StopSignal() {
    const sigset_t set = stop_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void StopSignal::consume() {
    signalfd_siginfo info{};
    while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        int expected = 0;
        signal_.compare_exchange_strong(expected, static_cast<int>(info.ssi_signo));
    }
}

bool StopSignal::requested() {
    if (signal_.load() != 0) return true;
    consume();
    return signal_.load() != 0;
}

bool StopSignal::wait_for(std::chrono::nanoseconds d) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + d;
    while (!requested()) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd_.get(), POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left));
        if (rc < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
    }
    return true;
}

}  // namespace tp
