// The few conventions every results file keeps, for the to_json/from_json pairs beside each
// struct: a missing reading is null, never a 0 standing in for it; figures are rounded where
// more digits would be noise, and rounding twice gives what rounding once gave, so that a
// struct read back writes the same JSON.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

namespace tp {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

template <typename T>
std::optional<T> optional_from_json(const nlohmann::json& j) {
    return j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
}

// For the structs whose to_json returns their object (found by argument-dependent lookup).
template <typename T>
nlohmann::json optional_struct_json(const std::optional<T>& v) {
    return v ? to_json(*v) : nlohmann::json(nullptr);
}

// `v` to a multiple of 1/scale: rounded(v, 100) keeps two decimals.
inline double rounded(double v, double scale) {
    return std::round(v * scale) / scale;
}

}  // namespace tp
