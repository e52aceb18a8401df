// The options latencyprobe and rateprobe share for the server they talk to: a running one
// (--connect), or an embedded fibserver with a model and that model's settings.
#pragma once

#include <cstdint>
#include <string>

#include "cli.hpp"
#include "target_server.hpp"

namespace tp {

// The command-line block, as the user typed it.
struct ServerOptions {
    std::string connect;
    std::string model = "threads";
    Count workers{};
    Count threshold{};
    Duration switch_interval{};
    StackSize stack{};
};

void add_server_options(po::options_description& options, ServerOptions& o);
// Checks them (usage errors name the flag) and says where the server comes from. An embedded
// server gets room for the probe's `connections` at once.
ServerSource server_source(const ServerOptions& o, const po::variables_map& vm,
                           std::uint64_t connections);

}  // namespace tp
