#include "placement.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cli.hpp"
#include "topology.hpp"

namespace tp {

Placement parse_placement_option(const std::string& name) {
    if (name == "one-pu") return Placement::one_pu;
    if (name == "free") return Placement::free;
    throw UsageError(fmt::format("option '--placement': '{}' is not one-pu or free", name));
}

const char* placement_name(Placement p) {
    return p == Placement::one_pu ? "one-pu" : "free";
}

std::string fastest_pu(const SpeedCheck& check) {
    const auto fastest =
        std::min_element(check.pus.begin(), check.pus.end(),
                         [](const PuSpeed& a, const PuSpeed& b) { return a.fib_ms < b.fib_ms; });
    return fastest == check.pus.end() ? first_usable_pu() : fastest->pu;
}

}  // namespace tp
