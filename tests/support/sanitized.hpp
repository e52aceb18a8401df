// Whether this build runs under a sanitizer. Sanitizers give every thread state of their own
// (ASan's fake stacks, TSan's shadow) and reserve terabytes of shadow address space, so
// upper bounds on per-thread memory and address-space limits do not hold there.
#pragma once

namespace tp::test {

// GCC defines __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang 14 only answers __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TP_TEST_ADDRESS_SANITIZED 1
#endif
#if __has_feature(thread_sanitizer)
#define TP_TEST_THREAD_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(TP_TEST_ADDRESS_SANITIZED) || defined(TP_TEST_THREAD_SANITIZED)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// ThreadSanitizer in particular keeps about 768 KiB of per-thread state in static TLS, which
// glibc carves out of the top of every thread's stack, enlarging smaller stacks to hold it (a
// "16 KiB" stack then holds 130 KiB of frames): thread stack layouts are not the program's own.
#if defined(__SANITIZE_THREAD__) || defined(TP_TEST_THREAD_SANITIZED)
inline constexpr bool kThreadSanitized = true;
#else
inline constexpr bool kThreadSanitized = false;
#endif

}  // namespace tp::test
