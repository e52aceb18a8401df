// The threads model under an emulated interpreter lock (gil.hpp): connection threads hold it
// while they parse and compute, release it around every blocking socket call, and the fib
// itself checks the drop request as CPython's eval loop does. Same code as threads otherwise,
// so any difference between the two models is the lock's.
//
// The thread that serves (accepts, and sees the stop signal) is CPython's main thread: a signal
// there is acted on only once that thread holds the lock again, so a stop waits until the
// holder drops it -- a switch interval while a fib runs, the whole operation while an
// uninterruptible one does (the article's Ctrl-C that does nothing).
#include "gil.hpp"

#include "model.hpp"
#include "process_lifetime.hpp"

namespace tp {
namespace {

bool compute_under_gil(void* context, unsigned n, std::uint64_t& value) {
    Checkpoint checkpoint = static_cast<Gil*>(context)->checkpoint();
    value = fib_with_checkpoint(n, checkpoint);
    return true;
}

class GilModel : public Model {
  public:
    GilModel(Gil& gil, std::unique_ptr<Model> threads) : gil_(gil), threads_(std::move(threads)) {}

    ServeSummary serve(int listen_fd, int stop_fd) override {
        const ServeSummary summary = threads_->serve(listen_fd, stop_fd);
        // Held from here to the process's end: no connection thread computes again.
        gil_.acquire();
        return summary;
    }

  private:
    Gil& gil_;
    std::unique_ptr<Model> threads_;
};

}  // namespace

std::unique_ptr<Model> make_gil_model(const ServerConfig& config) {
    // Detached connection threads may be waiting for the lock when the model goes away.
    Gil& gil = make_for_process_lifetime<Gil>(config.switch_interval);
    ServerConfig threads = config;
    threads.connection.hooks.compute = compute_under_gil;
    threads.connection.hooks.release = [](void* context) { static_cast<Gil*>(context)->release(); };
    threads.connection.hooks.reacquire = [](void* context) {
        static_cast<Gil*>(context)->acquire();
    };
    threads.connection.hooks.context = &gil;
    return std::make_unique<GilModel>(gil, make_threads_model(threads));
}

}  // namespace tp
