#include "cli.hpp"

#include <array>
#include <catch2/catch.hpp>

#include "units.hpp"

namespace {

// Parses argv the way every program does and returns the error text, or "" if it parsed.
std::string usage_error(std::vector<std::string> args) {
    namespace po = tp::po;
    tp::StackSize stack;
    tp::Duration hold;
    tp::ByteSize touch;
    po::options_description options("options");
    options.add_options()("stack", po::value(&stack))("hold", po::value(&hold))("touch",
                                                                                po::value(&touch));
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    po::variables_map vm;
    try {
        tp::parse_command_line("prog", "", options, static_cast<int>(argv.size()), argv.data(), vm);
    } catch (const po::error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a bad value names the flag and the reason", "[cli]") {
    CHECK(usage_error({"--stack", "12q"}) ==
          "option '--stack': '12q' has an unknown unit 'q' (use k, m, g or KiB, MiB, GiB) (or "
          "'default')");
    CHECK_THAT(usage_error({"--hold", "-1s"}),
               Catch::StartsWith("option '--hold': ") && Catch::Contains("negative"));
    CHECK_THAT(usage_error({"--touch=99999999999999999999"}),
               Catch::StartsWith("option '--touch': ") && Catch::Contains("too large"));
    CHECK_THAT(usage_error({"--nope"}), Catch::Contains("--nope"));
}

TEST_CASE("good values parse, 'default' stack included", "[cli]") {
    CHECK(usage_error({"--stack", "64k", "--hold", "2s", "--touch", "16KiB"}).empty());
    CHECK(usage_error({"--stack=default"}).empty());
}

TEST_CASE("counts reject what Boost's unsigned parsing would wrap", "[cli]") {
    namespace po = tp::po;
    tp::Count count;
    po::options_description options("options");
    options.add_options()("threads", po::value(&count));
    for (const char* bad : {"-1", "abc", "12x", "1.5"}) {
        std::vector<std::string> args = {"prog", std::string("--threads=") + bad};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        po::variables_map vm;
        CHECK_THROWS_WITH(
            tp::parse_command_line("prog", "", options, 2, argv.data(), vm),
            Catch::StartsWith("option '--threads': ") && Catch::Contains("not a whole number"));
    }
    CHECK_THROWS_WITH(tp::require_range("threads", 0, 1, 100),
                      "option '--threads': 0 is out of range (1 to 100)");
    CHECK(tp::require_range("threads", 100, 1, 100) == 100);
    CHECK_THROWS_WITH(tp::require_range("max-n", 93, 0, 92, "fib(93) does not fit"),
                      "option '--max-n': 93 is out of range (0 to 92): fib(93) does not fit");
}

TEST_CASE("a value parser's invalid_argument becomes a usage error naming the flag", "[cli]") {
    CHECK(tp::parse_option("n", [] { return 7; }) == 7);
    CHECK_THROWS_AS(tp::parse_option("connect", []() -> int { throw std::invalid_argument("x"); }),
                    tp::UsageError);
    CHECK_THROWS_WITH(
        tp::parse_option("connect",
                         []() -> int { throw std::invalid_argument("'nowhere' has no port"); }),
        "option '--connect': 'nowhere' has no port");
    // Anything else is not a usage error and passes through as it was.
    CHECK_THROWS_AS(tp::parse_option("connect", []() -> int { throw std::runtime_error("io"); }),
                    std::runtime_error);
    CHECK_THROWS_WITH(tp::parse_option("connect", []() -> int { throw std::runtime_error("io"); }),
                      "io");
}

TEST_CASE("a list of stack sizes, 'default' among them", "[cli]") {
    namespace po = tp::po;
    tp::StackSizeList list;
    po::options_description options("options");
    options.add_options()("stack", po::value(&list));
    auto parse = [&](std::string value) {
        std::vector<std::string> args = {"prog", "--stack=" + value};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        po::variables_map vm;
        tp::parse_command_line("prog", "", options, 2, argv.data(), vm);
    };
    parse("16k,64k,default");
    REQUIRE(list.sizes.size() == 3);
    CHECK(list.sizes[0].bytes == 16u * 1024);
    CHECK(list.sizes[1].bytes == 64u * 1024);
    CHECK_FALSE(list.sizes[2].bytes.has_value());
    // As typed, so a default shown in --help reads back as the same list.
    CHECK(tp::describe(list) == "16k,64k,default");
    parse("8m,1m,4097,default");
    CHECK(tp::describe(list) == "8m,1m,4097,default");
    const std::vector<tp::StackSize> before = list.sizes;
    parse(tp::describe(list));
    REQUIRE(list.sizes.size() == before.size());
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(list.sizes[i].bytes == before[i].bytes);
    CHECK_THROWS_WITH(parse("16k,,64k"), Catch::Contains("--stack") && Catch::Contains("empty"));
    CHECK_THROWS_WITH(parse("16k,12q"), Catch::Contains("--stack") && Catch::Contains("'12q'"));
}

TEST_CASE("a time limit that can be off: a duration, or none, off or 0", "[cli]") {
    namespace po = tp::po;
    auto parse = [](std::string value) {
        tp::OptionalDuration limit{std::chrono::seconds(7)};
        po::options_description options("options");
        options.add_options()("idle-timeout", po::value(&limit));
        std::vector<std::string> args = {"prog", "--idle-timeout=" + value};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        po::variables_map vm;
        tp::parse_command_line("prog", "", options, 2, argv.data(), vm);
        return limit;
    };
    CHECK(parse("2s").value == std::chrono::seconds(2));
    CHECK(parse("250ms").value == std::chrono::milliseconds(250));
    for (const char* off : {"none", "off", "0", "0s"}) CHECK_FALSE(parse(off).value.has_value());
    CHECK(tp::describe(parse("none")) == "none");
    // Shown as typed, in the largest exact unit, and read back as the same duration.
    for (const char* typed : {"5min", "90s", "300ms", "250us"}) {
        CHECK(tp::describe(parse(typed)) == typed);
        CHECK(tp::parse_duration(tp::describe(parse(typed))) == *parse(typed).value);
    }
    CHECK_THROWS_WITH(parse("soon"),
                      Catch::StartsWith("option '--idle-timeout': ") && Catch::Contains("'none'"));
    CHECK_THROWS_WITH(parse("-1s"), Catch::StartsWith("option '--idle-timeout': "));
}
