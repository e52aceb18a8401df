// --stack, checked against this system before any thread needs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "cli.hpp"

namespace tp {

// The most --stack accepts. Far beyond any useful connection thread; above it a typo (1g for
// 1m) would reserve address space by the gigabyte per connection.
inline constexpr std::uint64_t kMaxThreadStack = std::uint64_t{1} << 30;

// PTHREAD_STACK_MIN as this system reports it (glibc computes it at run time, from the CPU's
// signal frame size; 16 KiB on most x86-64 machines).
std::size_t minimum_thread_stack();

// What pthread_create gives a thread when no size is set: glibc takes it from RLIMIT_STACK's
// soft limit (8 MiB usually; 2 MiB when that is unlimited).
std::size_t default_thread_stack();

struct ThreadStackChoice {
    std::optional<std::size_t> bytes;           // empty: glibc's default
    std::optional<std::uint64_t> rounded_from;  // set when the request was not page-aligned
};

// Accepts PTHREAD_STACK_MIN .. 1 GiB and rounds up to whole pages (the kernel maps pages; the
// size reported must be the one used). Throws UsageError naming --stack and the bound.
ThreadStackChoice check_thread_stack(const StackSize& requested);

// check_thread_stack for a program's --stack: the rounding, if any, is said on stderr as
// "<program>: note: ...". Empty means glibc's default.
std::optional<std::size_t> thread_stack_for(const StackSize& requested, const char* program);

}  // namespace tp
