#include "metrics_file.hpp"

#include <fmt/format.h>
#include <prometheus/text_serializer.h>

namespace tp {

void add_openmetrics_option(po::options_description& options, std::string& path,
                            const std::string& help) {
    options.add_options()("openmetrics", po::value(&path)->value_name("FILE.prom"), help.c_str());
}

std::string exposition(const prometheus::Registry& registry) {
    return prometheus::TextSerializer().Serialize(registry.Collect());
}

MetricsFile::MetricsFile(std::filesystem::path path) : path_(std::move(path)) {
    if (path_.extension() != ".prom")
        throw UsageError(fmt::format(
            "option '--openmetrics': {} does not end in .prom, and node_exporter's textfile "
            "collector reads only *.prom files",
            path_.string()));
    next_.emplace(path_);
}

void MetricsFile::write(const std::string& content) {
    if (!next_) next_.emplace(path_);
    next_->commit(content);
    next_.reset();
}

}  // namespace tp
