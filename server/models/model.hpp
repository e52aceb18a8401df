// One way of serving connections. A model owns the thread that calls serve() until the stop
// signal, accepting from the listening socket in whatever way it stands for; everything else
// (binding, the readiness line, signals) is the Server's. A new model is one more class here
// and one more case in make_model().
#pragma once

#include <pthread.h>

#include <functional>
#include <memory>

#include "server.hpp"

namespace tp {

class Model {
  public:
    virtual ~Model() = default;
    // Serves until `stop_fd` is readable. Throws only for set-up failures and a broken
    // listening socket; a failing client or thread is counted, never fatal.
    virtual ServeSummary serve(int listen_fd, int stop_fd) = 0;
};

std::unique_ptr<Model> make_iterative_model(const ServerConfig& config);
// How the threads model starts a connection thread: 0, or the error pthread_create would
// return. Empty means pthread_create; tests pass one that fails to prove the model survives it.
using ThreadStarter =
    std::function<int(const pthread_attr_t& attributes, void* (*body)(void*), void* argument)>;
std::unique_ptr<Model> make_threads_model(const ServerConfig& config, ThreadStarter start = {});
std::unique_ptr<Model> make_gil_model(const ServerConfig& config);
// pool and threshold: threshold is the pool with inline computing below config.threshold.
std::unique_ptr<Model> make_pool_model(const ServerConfig& config);
std::unique_ptr<Model> make_prefork_model(const ServerConfig& config);
std::unique_ptr<Model> make_epoll_model(const ServerConfig& config);

std::unique_ptr<Model> make_model(const ServerConfig& config);

}  // namespace tp
