// The article's uninterruptible instruction: `'spam' in range(100000000)`. CPython runs it as
// one bytecode (range's __contains__, a C loop comparing every integer with the string), so the
// thread that runs it never reaches a checkpoint: under the GIL no other thread runs and
// Ctrl-C waits until it ends. Served as the request "spam N" by both servers; in fibserver it
// is computed inline in whatever thread the connection's model serves it on, and in the gil
// model that thread holds the lock throughout, offering it to nobody.
#pragma once

#include <cstdint>

namespace tp {

// Whether the string "spam" equals any of 0 .. count-1: never, as in Python, found by
// comparing each one the long way (each integer written out in decimal and compared with
// the word), so that its time grows with count as the article's does. A few nanoseconds an
// element: about 7 s for the default --max-spam of 10^9 on the development VM.
bool spam_in_range(std::uint64_t count);

}  // namespace tp
