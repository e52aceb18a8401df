// The names of fibserver's concurrency models: part of its command line and of its readiness
// line, so the probes that start a server check a --server-model without linking the models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tp {

// The concurrency models (DESIGN.md), by name. A new model is one more enumerator and name here
// and one more Model implementation in models/.
enum class ModelKind : std::uint8_t {
    iterative,  // one client at a time: a second client waits
    threads,    // a detached pthread per connection, with a chosen stack size
    gil,        // threads plus an emulated interpreter lock (CPython's since 3.2)
    pool,       // connection threads hand every fib to --workers forked processes
    threshold,  // inline below --threshold, the pool above
    prefork,    // --workers forked processes accepting on one socket
    epoll,      // one event-loop thread, non-blocking sockets
};
std::optional<ModelKind> parse_model(std::string_view name);
std::string_view model_name(ModelKind model);
// "iterative, threads": for --help and error messages.
std::string model_names();

}  // namespace tp
