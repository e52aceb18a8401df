#include "spam.hpp"

#include <array>
#include <charconv>
#include <string_view>

namespace tp {

bool spam_in_range(std::uint64_t count) {
    constexpr std::string_view kWord = "spam";
    std::array<char, 24> text{};
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t element = i;
        // Opaque to the optimizer, as fib's argument is (fib.cpp): no compiler may decide
        // from the loop's shape that no element can ever equal the word and skip it.
        asm volatile("" : "+r"(element));
        const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), element);
        if (std::string_view(text.data(), static_cast<std::size_t>(end - text.data())) == kWord)
            return true;
    }
    return false;
}

}  // namespace tp
