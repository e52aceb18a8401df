// Whether this build runs under a sanitizer. Sanitizers give every thread state of their own
// (ASan's fake stacks, TSan's shadow) and reserve terabytes of shadow address space, so
// upper bounds on per-thread memory and address-space limits do not hold there.
#pragma once

namespace tp::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace tp::test
