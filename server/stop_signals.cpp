#include "stop_signals.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace tp {

StopSignals StopSignals::install() {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &stop, nullptr); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    Fd fd(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) throw std::system_error(errno, std::generic_category(), "signalfd");
    if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        throw std::system_error(errno, std::generic_category(), "signal(SIGPIPE)");
    return StopSignals(std::move(fd));
}

int StopSignals::take() {
    signalfd_siginfo info{};
    ssize_t n;
    do {
        n = ::read(fd_.get(), &info, sizeof info);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
}

}  // namespace tp
