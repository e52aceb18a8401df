#include "cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>

#include "build_commit.hpp"
#include "units.hpp"

namespace tp {
namespace {

// Boost fills in the option name when it catches this on the way out of store().
using InvalidValue = InvalidOptionValue;

}  // namespace

void validate(boost::any& out, const std::vector<std::string>& values, ByteSize*, int) {
    const std::string& token = po::validators::get_single_string(values);
    try {
        out = ByteSize{parse_size(token)};
    } catch (const UnitError& e) {
        throw InvalidValue(e.what());
    }
}

StackSize parse_stack_size(const std::string& token) {
    if (token == "default") return StackSize{};
    try {
        return StackSize{parse_size(token)};
    } catch (const UnitError& e) {
        throw InvalidValue(fmt::format("{} (or 'default')", e.what()));
    }
}

void validate(boost::any& out, const std::vector<std::string>& values, StackSize*, int) {
    out = parse_stack_size(po::validators::get_single_string(values));
}

void validate(boost::any& out, const std::vector<std::string>& values, StackSizeList*, int) {
    const std::string& token = po::validators::get_single_string(values);
    StackSizeList list;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = token.find(',', start);
        const std::string item = token.substr(start, comma - start);
        if (item.empty()) throw InvalidValue(fmt::format("'{}' has an empty size in it", token));
        list.sizes.push_back(parse_stack_size(item));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    out = list;
}

void validate(boost::any& out, const std::vector<std::string>& values, Duration*, int) {
    const std::string& token = po::validators::get_single_string(values);
    try {
        out = Duration{parse_duration(token)};
    } catch (const UnitError& e) {
        throw InvalidValue(e.what());
    }
}

void validate(boost::any& out, const std::vector<std::string>& values, OptionalDuration*, int) {
    const std::string& token = po::validators::get_single_string(values);
    if (token == "none" || token == "off") {
        out = OptionalDuration{};
        return;
    }
    try {
        const std::chrono::nanoseconds d = parse_duration(token);
        out = d == std::chrono::nanoseconds::zero() ? OptionalDuration{} : OptionalDuration{d};
    } catch (const UnitError& e) {
        throw InvalidValue(fmt::format("{} (or 'none')", e.what()));
    }
}

void validate(boost::any& out, const std::vector<std::string>& values, Count*, int) {
    const std::string& token = po::validators::get_single_string(values);
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (token.empty() || ec != std::errc() || ptr != token.data() + token.size())
        throw InvalidValue(fmt::format("'{}' is not a whole number >= 0", token));
    out = Count{value};
}

UsageError option_error(std::string_view flag, std::string_view reason) {
    return UsageError(fmt::format("option '--{}': {}", flag, reason));
}

std::uint64_t require_range(const std::string& flag, std::uint64_t value, std::uint64_t lo,
                            std::uint64_t hi, std::string_view why) {
    if (value < lo || value > hi)
        throw option_error(flag, fmt::format("{} is out of range ({} to {}){}{}", value, lo, hi,
                                             why.empty() ? "" : ": ", why));
    return value;
}

std::string describe(const StackSize& s) {
    return s.bytes ? format_size(*s.bytes) : std::string("default");
}

namespace {

// A duration as the user would type it ("300ms", "5s"), in the largest unit that is exact, so a
// default shown in --help reads back as itself; below a microsecond it is rounded to one.
std::string typed_duration(std::chrono::nanoseconds d) {
    using namespace std::chrono;
    if (d.count() == 0) return "0s";
    if (d % minutes(1) == nanoseconds::zero()) return fmt::format("{}min", d / minutes(1));
    if (d % seconds(1) == nanoseconds::zero()) return fmt::format("{}s", d / seconds(1));
    if (d % milliseconds(1) == nanoseconds::zero()) return fmt::format("{}ms", d / milliseconds(1));
    return fmt::format("{}us", std::max<std::int64_t>(1, duration_cast<microseconds>(d).count()));
}

}  // namespace

std::string describe(const Duration& d) {
    return typed_duration(d.value);
}

std::string describe(const OptionalDuration& d) {
    return d.value ? typed_duration(*d.value) : std::string("none");
}

std::string describe(const StackSizeList& list) {
    // As the user would type it ("16k,64k,default"): a help line's default reads back.
    const auto typed = [](const StackSize& s) -> std::string {
        if (!s.bytes) return "default";
        constexpr std::uint64_t kKiB = 1024, kMiB = kKiB * kKiB;
        if (*s.bytes % kMiB == 0) return std::to_string(*s.bytes / kMiB) + "m";
        if (*s.bytes % kKiB == 0) return std::to_string(*s.bytes / kKiB) + "k";
        return std::to_string(*s.bytes);
    };
    std::string out;
    for (const auto& s : list.sizes) out += (out.empty() ? "" : ",") + typed(s);
    return out;
}

std::optional<int> parse_command_line(const std::string& program, const std::string& synopsis,
                                      const po::options_description& options, int argc, char** argv,
                                      po::variables_map& vm,
                                      const po::positional_options_description* positional) {
    po::options_description all = options;
    all.add_options()("help,h", "show this help and exit")("version", "show the version and exit");
    po::command_line_parser parser(argc, argv);
    parser.options(all);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
        std::cout << fmt::format("usage: {} {}\n\n", program, synopsis) << all << '\n';
        return 0;
    }
    if (vm.count("version")) {
        // "threadprobe 0.1.0 (commit 1a2b3c4)"; help2man reads the version from the first word
        // after the name.
        const std::string commit = THREADPROBE_BUILD_COMMIT;
        std::cout << fmt::format("{} {}{}\n", program, THREADPROBE_VERSION,
                                 commit.empty() ? "" : fmt::format(" (commit {})", commit));
        return 0;
    }
    po::notify(vm);
    return std::nullopt;
}

int run_main(const std::string& program, const std::function<int()>& body) {
    try {
        return body();
    } catch (const po::error& e) {
        std::cerr << fmt::format("{}: error: {} (see --help)\n", program, e.what());
        return 2;
    } catch (const UsageError& e) {
        std::cerr << fmt::format("{}: error: {} (see --help)\n", program, e.what());
        return 2;
    } catch (const std::exception& e) {
        std::cerr << fmt::format("{}: {}\n", program, e.what());
        return 1;
    }
}

}  // namespace tp
