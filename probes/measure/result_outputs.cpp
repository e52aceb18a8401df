#include "result_outputs.hpp"

#include <iostream>

namespace tp {

void add_output_options(po::options_description& options, OutputOptions& o,
                        const std::string& json_help, const std::string& csv_help,
                        const std::string& quiet_help) {
    options.add_options()("json", po::value(&o.json_path)->value_name("FILE"), json_help.c_str());
    if (!csv_help.empty())
        options.add_options()("csv", po::value(&o.csv_path)->value_name("FILE"), csv_help.c_str());
    options.add_options()("quiet,q", po::bool_switch(&o.quiet), quiet_help.c_str());
}

ResultOutputs::ResultOutputs(const OutputOptions& options) : quiet_(options.quiet) {
    if (!options.json_path.empty()) json_.emplace(options.json_path);
    if (!options.csv_path.empty()) csv_.emplace(options.csv_path);
}

void ResultOutputs::write(const nlohmann::json& results, const std::string& table,
                          const std::string& csv) {
    if (json_) json_->commit(results.dump(2) + "\n");
    if (csv_) csv_->commit(csv);
    if (!quiet_) std::cout << table << std::flush;
}

}  // namespace tp
