// The recursion stackprobe measures: every level a frame of a chosen size that the compiler can
// neither elide, shrink, inline nor turn into a loop, entered from the top down like a real
// stack; and the stack it runs on, as pthread reports it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tp {

// Told about every level as the recursion deepens; returns false to stop descending. The
// depth runs never stop (the guard page stops them); the paging curve stops at a set depth.
class LevelObserver {
  public:
    virtual ~LevelObserver() = default;
    // `level` counts from 0; `address` is the lowest byte of that level's frame buffer.
    virtual bool at_level(std::uint64_t level, std::uintptr_t address) = 0;

  protected:
    LevelObserver() = default;
    LevelObserver(const LevelObserver&) = default;
    LevelObserver& operator=(const LevelObserver&) = default;
};

// Recurses with a buffer of `frame_bytes` in every frame, writing each of its bytes, until
// `observer` says stop; returns the number of levels then.
std::uint64_t descend(std::size_t frame_bytes, LevelObserver& observer);

// The calling thread's stack: [low, high), with the guard below `low` (none for the main
// thread, whose stack the kernel grows on demand up to RLIMIT_STACK).
struct StackRange {
    std::uintptr_t low = 0;
    std::uintptr_t high = 0;
    std::uint64_t guard_bytes = 0;

    std::uint64_t bytes() const { return high - low; }
};

// From pthread_getattr_np. Returns the pthread error number (0 on success).
int this_thread_stack(StackRange& out);

}  // namespace tp
