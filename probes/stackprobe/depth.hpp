// One recursion to the end of one stack, in a forked child: a thread with a chosen pthread
// stack size (it ends on the guard page), or the main thread (it ends at RLIMIT_STACK).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "child_run.hpp"
#include "descent.hpp"

namespace tp {

// What the child left behind.
struct DepthRun {
    std::uint64_t levels = 0;                     // levels completed before it ended
    std::vector<std::uintptr_t> first_addresses;  // frame buffers of the first levels, in order
    std::uintptr_t deepest_address = 0;           // the frame buffer of the last level
    std::optional<StackRange> stack;              // as the child saw it, if it got that far
    std::uintptr_t thread_descriptor = 0;         // pthread_self(): glibc's struct pthread
    ChildOutcome outcome;
};

// How many leading levels keep their addresses: enough for a robust median frame size.
inline constexpr std::size_t kKeptLevelAddresses = 1024;

// A new thread with `stack_bytes` of stack (std::nullopt: pthread's default) recurses until
// the guard page stops it.
DepthRun run_thread_to_guard(std::optional<std::size_t> stack_bytes, std::size_t frame_bytes,
                             std::chrono::milliseconds timeout);

// The child's main thread recurses with its soft RLIMIT_STACK set to `rlimit_bytes`, until
// the kernel refuses to grow the stack any further.
DepthRun run_main_thread_to_limit(std::uint64_t rlimit_bytes, std::size_t frame_bytes,
                                  std::chrono::milliseconds timeout);

}  // namespace tp
