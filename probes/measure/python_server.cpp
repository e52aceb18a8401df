#include "python_server.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>

#include "embedded_server.hpp"

namespace tp {
namespace {

constexpr std::array<std::string_view, 5> kPythonModels = {"iterative", "threads", "pool",
                                                           "threshold", "prefork"};

}  // namespace

std::optional<std::string> python_model(const std::string& model) {
    if (!model.starts_with(kPythonModelPrefix)) return std::nullopt;
    return model.substr(kPythonModelPrefix.size());
}

const std::string& python_model_names() {
    static const std::string names = [] {
        std::string out;
        for (const auto name : kPythonModels) out += (out.empty() ? "" : ", ") + std::string(name);
        return out;
    }();
    return names;
}

bool is_python_model_name(const std::string& name) {
    return std::find(kPythonModels.begin(), kPythonModels.end(), name) != kPythonModels.end();
}

std::optional<std::string> find_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        const auto colon = std::min(dirs.find(':'), dirs.size());
        const std::string dir(dirs.substr(0, colon));
        dirs.remove_prefix(std::min(colon + 1, dirs.size()));
        const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return std::nullopt;
}

std::optional<std::string> python_server_script() {
    const std::filesystem::path bin =
        std::filesystem::path(sibling_program("fibserver")).parent_path();
    for (const auto& candidate :
         {bin.parent_path() / "share/threadprobe/python/fibserver.py",
          std::filesystem::path(THREADPROBE_SOURCE_DIR) / "server/python/fibserver.py"}) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
    }
    return std::nullopt;
}

}  // namespace tp
