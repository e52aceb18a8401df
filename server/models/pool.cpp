// The article's process pool: a thread per connection (the threads model's own machinery) that
// hands every fib to one of --workers forked processes and blocks until the answer, as
// pool.submit(fib, n).result() does. What it shows is the price of that hand-off on small
// requests. With --threshold (the threshold model), n up to the threshold is computed inline
// and only larger ones cross to a worker: the article's compromise.
#include <fmt/format.h>

#include <cstdio>
#include <optional>

#include "fib.hpp"
#include "model.hpp"
#include "process_lifetime.hpp"
#include "worker_pool.hpp"

namespace tp {
namespace {

struct PoolContext {
    WorkerPool pool;
    std::optional<unsigned> threshold;

    PoolContext(unsigned workers, std::optional<unsigned> threshold_)
        : pool(workers), threshold(threshold_) {}
};

bool compute_in_pool(void* context, unsigned n, std::uint64_t& value) {
    auto& pool_context = *static_cast<PoolContext*>(context);
    if (pool_context.threshold && n <= *pool_context.threshold) {
        value = fib(n);
        return true;
    }
    const auto result = pool_context.pool.compute(n);
    if (!result) return false;
    value = *result;
    return true;
}

class PoolModel final : public Model {
  public:
    explicit PoolModel(const ServerConfig& config)
        // Forked here, by the serving thread, before any connection thread exists.
        : context_(make_for_process_lifetime<PoolContext>(worker_count(config.workers),
                                                          config.threshold)) {
        ServerConfig threads = config;
        threads.connection.hooks.compute = compute_in_pool;
        threads.connection.hooks.context = &context_;
        connections_ = make_threads_model(threads);
        fmt::print(stderr, "fibserver: {} worker process{}{}\n", worker_count(config.workers),
                   worker_count(config.workers) == 1 ? "" : "es",
                   config.threshold ? fmt::format(", n <= {} inline", *config.threshold) : "");
    }
    // Connection threads may still be waiting on the pool: it stays (see process_lifetime.hpp),
    // its workers do not.
    ~PoolModel() override { context_.pool.shutdown(); }

    ServeSummary serve(int listen_fd, int stop_fd) override {
        return connections_->serve(listen_fd, stop_fd);
    }

  private:
    PoolContext& context_;
    std::unique_ptr<Model> connections_;
};

}  // namespace

std::unique_ptr<Model> make_pool_model(const ServerConfig& config) {
    return std::make_unique<PoolModel>(config);
}

}  // namespace tp
