#include "results.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tp::report {
namespace {

std::vector<std::string> split(const std::string& line, char sep) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, sep)) fields.push_back(field);
    if (!line.empty() && line.back() == sep) fields.emplace_back();
    return fields;
}

std::vector<ExperimentRun> read_experiments(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw ResultsError(fmt::format("{}: missing (scripts/reproduce writes it)", path.string()));
    std::vector<ExperimentRun> runs;
    std::string line;
    std::getline(in, line);  // the header
    for (int line_no = 2; std::getline(in, line); ++line_no) {
        if (line.empty()) continue;
        const auto fields = split(line, '\t');
        try {
            if (fields.size() != 4) throw std::invalid_argument("expected 4 tab-separated fields");
            runs.push_back({fields[0], std::stod(fields[1]), std::stoi(fields[2]), fields[3]});
        } catch (const std::exception& e) {
            throw ResultsError(
                fmt::format("{}:{}: malformed line: {}", path.string(), line_no, e.what()));
        }
    }
    return runs;
}

}  // namespace

Results Results::load(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw ResultsError(fmt::format("{}: not a results folder", dir.string()));
    std::map<std::string, nlohmann::json> documents;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".json") continue;
        std::ifstream in(entry.path());
        try {
            documents[entry.path().stem().string()] = nlohmann::json::parse(in);
        } catch (const nlohmann::json::parse_error& e) {
            throw ResultsError(
                fmt::format("{}: not valid JSON: {}", entry.path().string(), e.what()));
        }
    }
    return Results(dir.string(), std::move(documents), read_experiments(dir / "experiments.tsv"));
}

Results::Results(std::string origin, std::map<std::string, nlohmann::json> documents,
                 std::vector<ExperimentRun> experiments)
    : origin_(std::move(origin)),
      documents_(std::move(documents)),
      experiments_(std::move(experiments)) {}

std::string Results::file_name(const std::string& name) const {
    return fmt::format("{}/{}.json", origin_, name);
}

const nlohmann::json& Results::document(const std::string& name) const {
    const auto it = documents_.find(name);
    if (it == documents_.end())
        throw ResultsError(
            fmt::format("{}: missing (scripts/reproduce writes it)", file_name(name)));
    return it->second;
}

nlohmann::json& Results::edit(const std::string& name) {
    document(name);  // the same error as a reader's when absent
    return documents_[name];
}

const nlohmann::json& Results::at(const std::string& name, const std::string& pointer) const {
    const nlohmann::json& doc = document(name);
    try {
        return doc.at(nlohmann::json::json_pointer(pointer));
    } catch (const nlohmann::json::exception&) {
        throw ResultsError(fmt::format("{}: no key {}", file_name(name), pointer));
    }
}

double Results::number(const std::string& name, const std::string& pointer) const {
    const auto value = number_or_null(name, pointer);
    if (!value)
        throw ResultsError(
            fmt::format("{}: key {} is null, not a number", file_name(name), pointer));
    return *value;
}

std::optional<double> Results::number_or_null(const std::string& name,
                                              const std::string& pointer) const {
    const nlohmann::json& value = at(name, pointer);
    if (value.is_null()) return std::nullopt;
    if (!value.is_number())
        throw ResultsError(fmt::format("{}: key {} is {}, not a number", file_name(name), pointer,
                                       value.type_name()));
    return value.get<double>();
}

std::string Results::text(const std::string& name, const std::string& pointer) const {
    const nlohmann::json& value = at(name, pointer);
    if (!value.is_string())
        throw ResultsError(fmt::format("{}: key {} is {}, not a string", file_name(name), pointer,
                                       value.type_name()));
    return value.get<std::string>();
}

std::string Results::text_or_null(const std::string& name, const std::string& pointer) const {
    return at(name, pointer).is_null() ? std::string() : text(name, pointer);
}

bool Results::flag(const std::string& name, const std::string& pointer) const {
    const nlohmann::json& value = at(name, pointer);
    if (!value.is_boolean())
        throw ResultsError(fmt::format("{}: key {} is {}, not true or false", file_name(name),
                                       pointer, value.type_name()));
    return value.get<bool>();
}

std::vector<double> Results::numbers(const std::string& name, const std::string& pointer) const {
    const nlohmann::json& value = at(name, pointer);
    if (!value.is_array())
        throw ResultsError(fmt::format("{}: key {} is {}, not a list", file_name(name), pointer,
                                       value.type_name()));
    std::vector<double> out;
    for (std::size_t i = 0; i < value.size(); ++i)
        out.push_back(number(name, fmt::format("{}/{}", pointer, i)));
    return out;
}

std::vector<std::string> Results::names_starting_with(const std::string& prefix) const {
    std::vector<std::string> names;
    for (const auto& [name, doc] : documents_)
        if (name.rfind(prefix, 0) == 0) names.push_back(name);
    return names;  // std::map keeps them sorted
}

}  // namespace tp::report
