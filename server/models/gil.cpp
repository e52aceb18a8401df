// The threads model under an emulated interpreter lock (gil.hpp): connection threads hold it
// while they parse and compute, release it around every blocking socket call, and the fib
// itself checks the drop request as CPython's eval loop does. Same code as threads otherwise,
// so any difference between the two models is the lock's.
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
    return make_threads_model(threads);
}

}  // namespace tp
