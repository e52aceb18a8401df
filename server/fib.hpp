// The article's workload: fib(n) = 1 if n <= 2 else fib(n-1) + fib(n-2), by naive recursion.
// Its exponential cost is the point (a CPU-bound request whose length grows with n), so it is
// kept exponential on purpose; see fib.cpp.
#pragma once

#include <atomic>
#include <cstdint>

namespace tp {

// The largest n whose fib fits in a signed 64-bit integer: fib(92) = 7540113804746346429, and
// fib(93) = 12200160415121876738 is above INT64_MAX. (It would fit unsigned, but every consumer
// of the replies -- Python, JSON readers, other languages' int64 -- should read them exactly.)
inline constexpr unsigned kFibMaxN = 92;

// The article's definition, so fib(0) = fib(1) = fib(2) = 1. Takes about fib(n) calls, 1.6x
// more a step of n: on a 2-core x86_64 VM 0.5 ms at 30, 61 ms at 40, 0.7 s at 45, 1.8 s at 47
// (GCC turns one of the two calls into a loop; it stays exponential). Recursion depth is n, a few
// dozen bytes a level: safe on the smallest thread stacks. Requires n <= kFibMaxN.
std::uint64_t fib(unsigned n);

// A point where a long computation lets someone else in: the gil model's "eval breaker".
// fib_with_checkpoint looks at `*request` (one relaxed atomic load) on entering every call with
// n >= kCheckedFrom and, when it is set, calls `yield(context)`, which returns once the
// computation may go on. Below that the plain recursion runs unchecked: a subtree of
// fib(kCheckedFrom) is about 10^4 calls, tens of microseconds, far finer than a switch
// interval, and the checks cost nothing measurable.
struct Checkpoint {
    static constexpr unsigned kCheckedFrom = 20;
    const std::atomic<bool>* request = nullptr;
    void (*yield)(void* context) = nullptr;
    void* context = nullptr;
};
// fib(n) by the same recursion, checking `checkpoint` as it goes.
std::uint64_t fib_with_checkpoint(unsigned n, const Checkpoint& checkpoint);

// The same numbers in n steps. Not what the server computes: for tests and for checking the
// cap, where the naive recursion would take centuries.
std::uint64_t fib_by_iteration(unsigned n);

}  // namespace tp
