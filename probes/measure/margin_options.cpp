#include "margin_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <iostream>
#include <sstream>

namespace tp {
namespace {

constexpr double kMaxPercent = 50;
constexpr std::uint64_t kMaxTasks = 10'000'000;

}  // namespace

void validate(boost::any& out, const std::vector<std::string>& values, KeepFree*, int) {
    const std::string& token = po::validators::get_single_string(values);
    KeepFree k{0, 0};
    std::istringstream parts(token);
    std::string part;
    int seen = 0;
    while (std::getline(parts, part, ',')) {
        ++seen;
        const bool percent = !part.empty() && part.back() == '%';
        if (percent) part.pop_back();
        std::uint64_t value = 0;
        const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (part.empty() || ec != std::errc() || ptr != part.data() + part.size())
            throw InvalidOptionValue(
                fmt::format("'{}' is not a share and/or a count of tasks (e.g. 5%,1000)", token));
        if (percent ? value > kMaxPercent : value > kMaxTasks)
            throw InvalidOptionValue(
                fmt::format("{}{} is out of range (0 to {})", value, percent ? "%" : " tasks",
                            percent ? fmt::format("{}%", kMaxPercent) : std::to_string(kMaxTasks)));
        if (percent)
            k.percent = static_cast<double>(value);
        else
            k.tasks = value;
    }
    if (seen == 0 || seen > 2)
        throw InvalidOptionValue(
            fmt::format("'{}' is not a share and/or a count of tasks (e.g. 5%,1000)", token));
    out = k;
}

void add_margin_options(po::options_description& options, MarginOptions& o) {
    const std::string keep = fmt::format(
        "room left to the rest of the machine at pid_max, threads-max and the commit limit: a "
        "share of the ceiling and/or tasks, the larger counts (default {})",
        describe(o.keep_free));
    // clang-format off
    options.add_options()
        ("keep-free", po::value(&o.keep_free)->value_name("SHARE,TASKS"), keep.c_str())
        ("to-the-limit", po::bool_switch(&o.to_the_limit), "go all the way to system-wide ceilings too (a disposable machine only: other processes' forks fail meanwhile)");
    // clang-format on
}

SafetyMargin margin_for(const MarginOptions& o, const ProcFs& fs, const std::string& program) {
    if (o.to_the_limit) {
        std::cerr << fmt::format(
            "{}: warning: --to-the-limit: system-wide ceilings are reached for real; every other "
            "process on this machine may fail to fork meanwhile\n",
            program);
        return {};
    }
    return safety_margin(fs, o.keep_free);
}

}  // namespace tp
