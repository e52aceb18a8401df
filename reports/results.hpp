// The result files of one scripts/reproduce run, as the report reads them. Every access
// names the file and the key it wanted, so a missing or malformed result is a one-line
// error a reader can act on, never a half-drawn report.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tp::report {

class ResultsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One line of experiments.tsv: what scripts/reproduce ran, for how long, and how it ended.
struct ExperimentRun {
    std::string name;
    double seconds = 0;
    int status = 0;
    std::string command;
};

class Results {
  public:
    // Reads every NAME.json and experiments.tsv in `dir`. Throws ResultsError naming the file
    // if one is not valid JSON or the folder does not exist.
    static Results load(const std::filesystem::path& dir);
    // For tests: documents by name (no .json), as if read from `origin`.
    Results(std::string origin, std::map<std::string, nlohmann::json> documents,
            std::vector<ExperimentRun> experiments);

    bool has(const std::string& name) const { return documents_.count(name) > 0; }
    // The whole document; throws ResultsError "<origin>/NAME.json: missing" when absent.
    const nlohmann::json& document(const std::string& name) const;
    // A value by JSON pointer ("/summary/drop_percent"); throws naming file and key.
    const nlohmann::json& at(const std::string& name, const std::string& pointer) const;
    double number(const std::string& name, const std::string& pointer) const;
    // null (the probe's "not measured") reads as nothing; a missing key is still an error.
    std::optional<double> number_or_null(const std::string& name, const std::string& pointer) const;
    std::string text(const std::string& name, const std::string& pointer) const;
    // null reads as an empty string.
    std::string text_or_null(const std::string& name, const std::string& pointer) const;
    bool flag(const std::string& name, const std::string& pointer) const;
    std::vector<double> numbers(const std::string& name, const std::string& pointer) const;
    // Names of the documents starting with `prefix`, sorted.
    std::vector<std::string> names_starting_with(const std::string& prefix) const;

    const std::vector<ExperimentRun>& experiments() const { return experiments_; }
    const std::string& origin() const { return origin_; }
    // Lets a test change one figure and watch a verdict flip.
    nlohmann::json& edit(const std::string& name);

  private:
    std::string file_name(const std::string& name) const;

    std::string origin_;
    std::map<std::string, nlohmann::json> documents_;
    std::vector<ExperimentRun> experiments_;
};

}  // namespace tp::report
