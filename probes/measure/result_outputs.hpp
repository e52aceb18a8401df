// What every probe writes and where (hyperfine's export manager): --json and --csv files,
// created before the run so a bad path fails in its first second rather than after a long
// measurement, and written whole after it; the table on stdout unless --quiet.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli.hpp"
#include "output_file.hpp"

namespace tp {

struct OutputOptions {
    std::string json_path;
    std::string csv_path;
    bool quiet = false;
};

// --json with `json_help`, --csv with `csv_help` when given, and --quiet with `quiet_help`.
void add_output_options(po::options_description& options, OutputOptions& o,
                        const std::string& json_help, const std::string& csv_help = {},
                        const std::string& quiet_help = "no table on stdout, no progress");

class ResultOutputs {
  public:
    // Creates the files asked for; throws std::system_error naming a path that cannot be.
    explicit ResultOutputs(const OutputOptions& options);

    bool quiet() const { return quiet_; }
    bool wants_csv() const { return csv_.has_value(); }

    // Commits the JSON (and the CSV, when asked for), then prints `table` unless quiet.
    void write(const nlohmann::json& results, const std::string& table,
               const std::string& csv = {});

  private:
    std::optional<OutputFile> json_;
    std::optional<OutputFile> csv_;
    bool quiet_ = false;
};

}  // namespace tp
