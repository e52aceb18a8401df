// Command-line glue shared by every program: option value types that parse units and name
// the flag when they reject a value, and one place that turns exceptions into the exit codes
// the README promises (2 = usage error, 1 = runtime failure).
#pragma once

#include <boost/any.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tp {

namespace po = boost::program_options;

// A byte count written with units: 64k, 8MiB.
struct ByteSize {
    std::uint64_t bytes = 0;
};

// A pthread stack size, or "default": whatever pthread_attr_init gives (RLIMIT_STACK on glibc).
struct StackSize {
    std::optional<std::uint64_t> bytes;
};

// Several stack sizes, comma-separated: "16k,64k,default". For probes that sweep sizes.
struct StackSizeList {
    std::vector<StackSize> sizes;
};

// A whole number >= 0. Boost's own unsigned parsing accepts "-1" as 4294967295; this does not.
struct Count {
    std::uint64_t value = 0;
};

// A duration written with a unit: 100ms, 2s.
struct Duration {
    std::chrono::nanoseconds value{};
};

// A time limit that can be switched off: a Duration, or "none", "off" or 0 for no limit.
struct OptionalDuration {
    std::optional<std::chrono::nanoseconds> value;  // empty: no limit
};

// What a validate() throws for a value it cannot use: keeps the reason and lets Boost insert
// the option, "option '--stack': '12q' has an unknown unit".
class InvalidOptionValue : public po::error_with_option_name {
  public:
    explicit InvalidOptionValue(const std::string& reason)
        : po::error_with_option_name("option '%canonical_option%': " + reason) {}
};

void validate(boost::any& out, const std::vector<std::string>& values, ByteSize*, int);
void validate(boost::any& out, const std::vector<std::string>& values, StackSize*, int);
void validate(boost::any& out, const std::vector<std::string>& values, Duration*, int);
void validate(boost::any& out, const std::vector<std::string>& values, OptionalDuration*, int);
void validate(boost::any& out, const std::vector<std::string>& values, Count*, int);
void validate(boost::any& out, const std::vector<std::string>& values, StackSizeList*, int);

// Text for defaults shown in --help.
std::string describe(const StackSize& s);
std::string describe(const Duration& d);
std::string describe(const OptionalDuration& d);
std::string describe(const StackSizeList& list);

// A value that parsed but is unusable ("--touch larger than --stack"): exit 2 like a parse error.
// The message names the flag.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The UsageError "option '--FLAG': REASON".
UsageError option_error(std::string_view flag, std::string_view reason);

// `value`, once lo <= value <= hi; else throws UsageError "option '--flag': VALUE is out of range
// (LO to HI)", with a `why` after it: "... (0 to 92): fib(93) does not fit in 64 bits".
std::uint64_t require_range(const std::string& flag, std::uint64_t value, std::uint64_t lo,
                            std::uint64_t hi, std::string_view why = {});

// Returns what `parse` (a parser of one option's text, throwing std::invalid_argument that says
// what is wrong) makes of it; its complaint becomes option_error(flag, complaint), exit 2.
template <typename Parse>
auto parse_option(std::string_view flag, Parse&& parse) -> std::invoke_result_t<Parse&> {
    try {
        return parse();
    } catch (const std::invalid_argument& e) {
        throw option_error(flag, e.what());
    }
}

// Parses argv against `options` plus --help and --version, which every program has; prints
// help or version and returns an exit code if asked, std::nullopt if the program should go on
// with `vm` filled in.
std::optional<int> parse_command_line(
    const std::string& program, const std::string& synopsis, const po::options_description& options,
    int argc, char** argv, po::variables_map& vm,
    const po::positional_options_description* positional = nullptr);

// Runs `body`, mapping exceptions to one line on stderr and an exit code:
// usage errors (Boost.Program_options, UsageError) -> 2, everything else -> 1.
int run_main(const std::string& program, const std::function<int()>& body);

}  // namespace tp
