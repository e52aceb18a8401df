#include "fib.hpp"

namespace tp {
namespace {

std::uint64_t fib_recursive(std::uint64_t n) {
    // An empty asm that claims to change n: every call's argument is opaque to the optimizer,
    // so no compiler can fold calls with equal arguments, memoise, or find the closed form.
    // GCC may still turn one of the two calls into a loop; the number of calls stays
    // exponential, which is what the server's models are measured against.
    asm volatile("" : "+r"(n));
    if (n <= 2) return 1;
    return fib_recursive(n - 1) + fib_recursive(n - 2);
}

std::uint64_t fib_checked(unsigned n, const Checkpoint& checkpoint) {
    if (n < Checkpoint::kCheckedFrom) return fib_recursive(n);
    if (checkpoint.request->load(std::memory_order_relaxed)) checkpoint.yield(checkpoint.context);
    return fib_checked(n - 1, checkpoint) + fib_checked(n - 2, checkpoint);
}

}  // namespace

std::uint64_t fib_with_checkpoint(unsigned n, const Checkpoint& checkpoint) {
    return fib_checked(n, checkpoint);
}

std::uint64_t fib(unsigned n) {
    return fib_recursive(n);
}

std::uint64_t fib_by_iteration(unsigned n) {
    std::uint64_t previous = 1;
    std::uint64_t current = 1;
    for (unsigned i = 3; i <= n; ++i) {
        const std::uint64_t next = previous + current;
        previous = current;
        current = next;
    }
    return current;
}

}  // namespace tp
