#include "descent.hpp"

#include <alloca.h>
#include <pthread.h>

namespace tp {
namespace {

[[gnu::noinline]] std::uint64_t descend_from(std::uint64_t level, std::size_t frame_bytes,
                                             LevelObserver& observer) {
    // alloca rather than a fixed array: the size is chosen at run time, and the buffer is on
    // the thread's real stack even under ASan, whose fake stacks can move fixed-size locals
    // to the heap.
    auto* frame = static_cast<volatile unsigned char*>(alloca(frame_bytes));
    // Every byte, from the top down: the stack is entered in address order, so a frame larger
    // than the guard page faults on the guard page instead of stepping over it into whatever
    // is mapped below (a stack clash). Volatile: the writes cannot be elided.
    for (std::size_t i = frame_bytes; i-- > 0;) frame[i] = static_cast<unsigned char>(level);
    if (!observer.at_level(level, reinterpret_cast<std::uintptr_t>(frame))) return level + 1;
    const std::uint64_t levels = descend_from(level + 1, frame_bytes, observer);
    // A read of this frame after the call: the call cannot become a tail call, so the
    // compiler cannot turn the recursion into a loop that never grows the stack.
    static_cast<void>(frame[0]);
    return levels;
}

}  // namespace

std::uint64_t descend(std::size_t frame_bytes, LevelObserver& observer) {
    return descend_from(0, frame_bytes, observer);
}

int this_thread_stack(StackRange& out) {
    pthread_attr_t attr;
    if (const int rc = ::pthread_getattr_np(::pthread_self(), &attr); rc != 0) return rc;
    void* low = nullptr;
    std::size_t size = 0;
    std::size_t guard = 0;
    int rc = ::pthread_attr_getstack(&attr, &low, &size);
    if (rc == 0) rc = ::pthread_attr_getguardsize(&attr, &guard);
    ::pthread_attr_destroy(&attr);
    if (rc != 0) return rc;
    out.low = reinterpret_cast<std::uintptr_t>(low);
    out.high = out.low + size;
    out.guard_bytes = guard;
    return 0;
}

}  // namespace tp
