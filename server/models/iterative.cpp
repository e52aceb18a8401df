// The article's first server: accept, serve that client to the end, accept the next. Whoever
// connects meanwhile waits in the listen queue.
#include "acceptor.hpp"
#include "model.hpp"

namespace tp {
namespace {

class IterativeModel final : public Model {
  public:
    explicit IterativeModel(const ConnectionSettings& settings) : settings_(settings) {}

    ServeSummary serve(int listen_fd, int stop_fd) override {
        Acceptor acceptor(listen_fd, stop_fd);
        while (const Fd client = acceptor.next())
            serve_connection(client.get(), settings_, stop_fd);
        return {acceptor.accepted(), 0};
    }

  private:
    ConnectionSettings settings_;
};

}  // namespace

std::unique_ptr<Model> make_iterative_model(const ServerConfig& config) {
    return std::make_unique<IterativeModel>(config.connection);
}

}  // namespace tp
