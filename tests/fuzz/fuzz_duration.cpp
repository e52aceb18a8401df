// libFuzzer target: parse_duration and the duration option values built on it.
// The checks live in fuzz_entries.cpp, shared with the regression replay of the corpus.
#include <cstddef>
#include <cstdint>

#include "fuzz_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return tp::fuzz::run_or_abort(tp::fuzz::duration, data, size);
}
