// Where --openmetrics writes: a file node_exporter's textfile collector reads at every scrape.
// The collector must never see half a file, so each write goes to a temporary beside it (its
// name does not end in .prom, so the collector skips it) and is renamed into place. The first
// temporary is made when the file is opened, so an unwritable path fails before the run.
#pragma once

#include <prometheus/registry.h>

#include <filesystem>
#include <optional>
#include <string>

#include "cli.hpp"
#include "output_file.hpp"

namespace tp {

// --openmetrics FILE, with `help`.
void add_openmetrics_option(po::options_description& options, std::string& path,
                            const std::string& help);

// The registry's metrics in the Prometheus text exposition format (version 0.0.4, what the
// textfile collector parses), without timestamps: the collector refuses them.
std::string exposition(const prometheus::Registry& registry);

class MetricsFile {
  public:
    // Throws UsageError for a name the collector would ignore (not ending in .prom), and
    // std::system_error naming a path that cannot be written.
    explicit MetricsFile(std::filesystem::path path);

    // Replaces the file's content whole. Throws std::system_error on failure.
    void write(const std::string& content);

  private:
    std::filesystem::path path_;
    std::optional<OutputFile> next_;  // the temporary the next write goes to
};

}  // namespace tp
