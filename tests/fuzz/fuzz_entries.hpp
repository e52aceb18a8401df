// What the fuzz targets run on one input, shared by the libFuzzer programs in this folder and by
// the regression replay in tests/fuzz_corpus_test.cpp, so the plain CI build pushes every seed
// and every reproducer through the very same checks.
//
// Each entry feeds the bytes to a parser that faces hostile input (the wire protocol, the
// command line's sizes, durations and endpoints) and checks what must hold whatever the bytes:
// rejections come as the documented exception type, and whatever is accepted agrees with an
// independent reading of the same text. A broken invariant throws InvariantViolation; any other
// exception escaping an entry is a bug too (libFuzzer reports it as a crash, the replay as a
// failure).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>

namespace tp::fuzz {

using Input = std::span<const std::uint8_t>;

class InvariantViolation : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

// A byte stream as a connection would read it, split into segments in several ways, through
// RequestParser under several limits (fibserver's defaults and the extremes of --max-n and
// --max-line), in line mode and in raw mode. Every way of splitting gives the same events, and
// they are those of a plain reference reading of the stream.
void request_stream(Input input);

// One line through parse_request with max_n anywhere in unsigned's range, against a reference
// that reads the number exactly; every error's reply line is well formed.
void request_line(Input input);

// parse_size, and the ByteSize, StackSize and StackSizeList option values built on it.
void size(Input input);

// parse_duration, and the Duration option value built on it.
void duration(Input input);

// parse_endpoint (--connect HOST:PORT).
void endpoint(Input input);

struct Target {
    std::string_view name;  // also the folder of its seeds: tests/fuzz/corpus/<name>
    void (*run)(Input);
};

inline constexpr std::array<Target, 5> kTargets = {{
    {"request_stream", request_stream},
    {"request_line", request_line},
    {"size", size},
    {"duration", duration},
    {"endpoint", endpoint},
}};

// For LLVMFuzzerTestOneInput: runs `entry`, and turns a broken invariant into a message and an
// abort, which libFuzzer records as a crash with its reproducer.
int run_or_abort(void (*entry)(Input), const std::uint8_t* data, std::size_t size);

}  // namespace tp::fuzz
