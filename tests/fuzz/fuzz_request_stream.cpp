// libFuzzer target: A byte stream through RequestParser, split into reads every way, in line and
// raw mode. The checks live in fuzz_entries.cpp, shared with the regression replay of the corpus.
#include <cstddef>
#include <cstdint>

#include "fuzz_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return tp::fuzz::run_or_abort(tp::fuzz::request_stream, data, size);
}
