#include "thread_stack.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>

#include "units.hpp"

namespace tp {

std::size_t minimum_thread_stack() {
    const long min = ::sysconf(_SC_THREAD_STACK_MIN);
    return min > 0 ? static_cast<std::size_t>(min) : PTHREAD_STACK_MIN;
}

std::size_t default_thread_stack() {
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    std::size_t size = 0;
    ::pthread_attr_getstacksize(&attr, &size);
    ::pthread_attr_destroy(&attr);
    return size;
}

std::optional<std::size_t> thread_stack_for(const StackSize& requested, const char* program) {
    const ThreadStackChoice choice = check_thread_stack(requested);
    if (choice.rounded_from)
        fmt::print(stderr, "{}: note: --stack {} rounded up to {} bytes (whole pages)\n", program,
                   *choice.rounded_from, *choice.bytes);
    return choice.bytes;
}

ThreadStackChoice check_thread_stack(const StackSize& requested) {
    if (!requested.bytes) return {};
    const std::uint64_t bytes = *requested.bytes;
    const std::size_t minimum = minimum_thread_stack();
    if (bytes < minimum)
        throw UsageError(fmt::format(
            "option '--stack': {} is below this system's minimum of {} (PTHREAD_STACK_MIN)",
            format_size(bytes), format_size(minimum)));
    if (bytes > kMaxThreadStack)
        throw UsageError(fmt::format("option '--stack': {} is above the limit of {}",
                                     format_size(bytes), format_size(kMaxThreadStack)));
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t rounded = (bytes + page - 1) / page * page;
    ThreadStackChoice choice{static_cast<std::size_t>(rounded), std::nullopt};
    if (rounded != bytes) choice.rounded_from = bytes;
    return choice;
}

}  // namespace tp
