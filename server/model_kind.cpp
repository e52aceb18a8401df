#include "model_kind.hpp"

#include <array>

namespace tp {
namespace {

struct NamedModel {
    ModelKind model;
    std::string_view name;
};
constexpr std::array<NamedModel, 7> kModels{{
    {ModelKind::iterative, "iterative"},
    {ModelKind::threads, "threads"},
    {ModelKind::gil, "gil"},
    {ModelKind::pool, "pool"},
    {ModelKind::threshold, "threshold"},
    {ModelKind::prefork, "prefork"},
    {ModelKind::epoll, "epoll"},
}};

}  // namespace

std::optional<ModelKind> parse_model(std::string_view name) {
    for (const auto& m : kModels)
        if (m.name == name) return m.model;
    return std::nullopt;
}

std::string_view model_name(ModelKind model) {
    for (const auto& m : kModels)
        if (m.model == model) return m.name;
    return "?";
}

std::string model_names() {
    std::string names;
    for (const auto& m : kModels) {
        if (!names.empty()) names += ", ";
        names += m.name;
    }
    return names;
}

}  // namespace tp
