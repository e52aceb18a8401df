// The article's pre-forked server: --workers processes, forked before any client arrives, each
// accepting on the one shared listening socket and serving one client at a time, so at most N
// clients are served at once and the next waits in the listen queue.
//
// The parent only supervises: it replaces a child that died, and on the stop signal closes the
// write end of a pipe every child watches as its stop descriptor (end of stream = stop), waits
// a little for them to finish, then kills what is left. Children also die with the parent
// (PR_SET_PDEATHSIG), and ignore the terminal's Ctrl-C: their SIGINT and SIGTERM stay blocked
// as the parent's were, so only the parent decides.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

#include "acceptor.hpp"
#include "model.hpp"
#include "worker_process.hpp"

namespace tp {
namespace {

// How often the parent looks for children that died, between stop-signal checks.
constexpr int kReapIntervalMs = 200;
// How long finishing children get after the stop before they are killed.
constexpr auto kStopGrace = std::chrono::seconds(1);

[[noreturn]] void child_main(int listen_fd, int stop_fd, pid_t parent,
                             const ConnectionSettings& settings) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    int status = 0;
    try {
        Acceptor acceptor(listen_fd, stop_fd);
        while (const Fd client = acceptor.next()) serve_connection(client.get(), settings, stop_fd);
    } catch (const std::exception& e) {
        fmt::print(stderr, "fibserver: prefork worker {}: {}\n", ::getpid(), e.what());
        status = 1;
    }
    std::fflush(stderr);
    ::_exit(status);  // never back into the parent's main()
}

class PreforkModel final : public Model {
  public:
    // Each worker holds one connection at a time, so --max-connections caps the workers; the
    // clients beyond them wait in the listen queue, which is this model's point.
    explicit PreforkModel(const ServerConfig& config)
        : settings_(config.connection),
          workers_(static_cast<unsigned>(
              std::min<std::uint64_t>(worker_count(config.workers), config.max_connections))) {
        if (workers_ < worker_count(config.workers))
            fmt::print(stderr, "fibserver: note: --max-connections {} runs {} prefork workers\n",
                       config.max_connections, workers_);
    }

    ServeSummary serve(int listen_fd, int stop_fd) override {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe for prefork workers");
        Fd children_stop(ends[0]);
        Fd stop_writer(ends[1]);

        std::vector<pid_t> children(workers_, -1);
        auto fork_child = [&](pid_t& slot) {
            const pid_t parent = ::getpid();
            const pid_t pid = ::fork();
            if (pid < 0) {
                fmt::print(stderr, "fibserver: cannot fork a prefork worker: {}\n",
                           std::generic_category().message(errno));
                return;
            }
            if (pid == 0) {
                stop_writer.reset();
                ::close(stop_fd);  // the parent's signalfd: the parent's business
                child_main(listen_fd, children_stop.get(), parent, settings_);
            }
            slot = pid;
        };
        for (auto& child : children) fork_child(child);
        fmt::print(stderr, "fibserver: {} prefork worker process{}\n", workers_,
                   workers_ == 1 ? "" : "es");

        for (;;) {
            pollfd stop{stop_fd, POLLIN, 0};
            const int rc = ::poll(&stop, 1, kReapIntervalMs);
            if (rc < 0 && errno != EINTR)
                throw std::system_error(errno, std::generic_category(), "poll on stop signal");
            if (rc > 0) break;
            for (auto& child : children) {
                if (child > 0 && ::waitpid(child, nullptr, WNOHANG) != child) continue;
                if (child > 0)
                    fmt::print(stderr, "fibserver: prefork worker {} died; replacing it\n", child);
                child = -1;
                fork_child(child);
            }
        }

        stop_writer.reset();  // end of stream on every child's stop descriptor
        const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
        for (auto& child : children) {
            while (child > 0) {
                const pid_t done = ::waitpid(child, nullptr, WNOHANG);
                if (done == child || (done < 0 && errno != EINTR)) {
                    child = -1;
                } else if (std::chrono::steady_clock::now() >= deadline) {
                    ::kill(child, SIGKILL);
                    ::waitpid(child, nullptr, 0);
                    child = -1;
                } else {
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            }
        }
        // Children count their own clients; the parent never sees them.
        return {0, 0};
    }

  private:
    ConnectionSettings settings_;
    unsigned workers_;
};

}  // namespace

std::unique_ptr<Model> make_prefork_model(const ServerConfig& config) {
    return std::make_unique<PreforkModel>(config);
}

}  // namespace tp
