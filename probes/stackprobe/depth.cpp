#include "depth.hpp"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace tp {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;

// Shared with the parent (see SharedMapping): the child updates it at every level, because
// it has no chance to report once the guard page is hit.
struct DepthRecord {
    std::atomic<std::uint64_t> levels{0};
    std::atomic<std::uintptr_t> deepest_address{0};
    std::atomic<std::uintptr_t> first_addresses[kKeptLevelAddresses];
    std::atomic<bool> stack_known{false};
    std::atomic<std::uintptr_t> stack_low{0};
    std::atomic<std::uintptr_t> stack_high{0};
    std::atomic<std::uint64_t> guard_bytes{0};
    std::atomic<std::uintptr_t> thread_descriptor{0};
};

class DepthRecorder final : public LevelObserver {
  public:
    explicit DepthRecorder(DepthRecord& record) : record_(record) {}

    // The address is stored before the count, and no store here can fault: what the parent
    // reads after the crash is the last level that fit, consistent with its address.
    bool at_level(std::uint64_t level, std::uintptr_t address) override {
        if (level < kKeptLevelAddresses) record_.first_addresses[level].store(address, relaxed);
        record_.deepest_address.store(address, relaxed);
        record_.levels.store(level + 1, relaxed);
        return true;
    }

  private:
    DepthRecord& record_;
};

struct Descent {
    DepthRecord* record;
    std::size_t frame_bytes;
    const ChildChannel* channel;
};

// In the child: note the stack's bounds, then recurse until something stops it.
[[noreturn]] void descend_to_the_end(const Descent& d) {
    StackRange stack;
    if (const int rc = this_thread_stack(stack); rc != 0) d.channel->fail("pthread_getattr_np", rc);
    d.record->stack_low.store(stack.low, relaxed);
    d.record->stack_high.store(stack.high, relaxed);
    d.record->guard_bytes.store(stack.guard_bytes, relaxed);
    // On glibc, pthread_self() is the address of the thread's descriptor, which a new
    // thread's stack carries at its top, with static TLS just below it.
    d.record->thread_descriptor.store(static_cast<std::uintptr_t>(::pthread_self()), relaxed);
    d.record->stack_known.store(true, relaxed);
    DepthRecorder recorder(*d.record);
    descend(d.frame_bytes, recorder);
    d.channel->fail("the recursion returned instead of reaching the end of its stack");
}

void* thread_main(void* arg) {
    descend_to_the_end(*static_cast<const Descent*>(arg));
}

DepthRun collect(const DepthRecord& record, ChildOutcome outcome) {
    DepthRun run;
    run.levels = record.levels.load(relaxed);
    run.deepest_address = record.deepest_address.load(relaxed);
    const std::uint64_t kept = std::min<std::uint64_t>(run.levels, kKeptLevelAddresses);
    for (std::uint64_t i = 0; i < kept; ++i)
        run.first_addresses.push_back(record.first_addresses[i].load(relaxed));
    if (record.stack_known.load(relaxed))
        run.stack = StackRange{record.stack_low.load(relaxed), record.stack_high.load(relaxed),
                               record.guard_bytes.load(relaxed)};
    run.thread_descriptor = record.thread_descriptor.load(relaxed);
    run.outcome = std::move(outcome);
    return run;
}

}  // namespace

DepthRun run_thread_to_guard(std::optional<std::size_t> stack_bytes, std::size_t frame_bytes,
                             std::chrono::milliseconds timeout) {
    SharedMapping<DepthRecord> record;
    ChildOutcome outcome = run_in_child(
        [&](const ChildChannel& channel) {
            pthread_attr_t attr;
            ::pthread_attr_init(&attr);
            if (stack_bytes)
                if (const int rc = ::pthread_attr_setstacksize(&attr, *stack_bytes); rc != 0)
                    channel.fail("pthread_attr_setstacksize", rc);
            Descent descent{&*record, frame_bytes, &channel};
            pthread_t thread;
            if (const int rc = ::pthread_create(&thread, &attr, thread_main, &descent); rc != 0)
                channel.fail("pthread_create", rc);
            ::pthread_join(thread, nullptr);  // never returns: the thread's crash ends us
        },
        timeout);
    return collect(*record, std::move(outcome));
}

DepthRun run_main_thread_to_limit(std::uint64_t rlimit_bytes, std::size_t frame_bytes,
                                  std::chrono::milliseconds timeout) {
    SharedMapping<DepthRecord> record;
    ChildOutcome outcome = run_in_child(
        [&](const ChildChannel& channel) {
            // The kernel checks RLIMIT_STACK each time it grows the stack, so lowering the
            // soft limit now bounds this process's main stack from here on.
            rlimit limit{};
            if (::getrlimit(RLIMIT_STACK, &limit) != 0) channel.fail("getrlimit", errno);
            limit.rlim_cur = rlimit_bytes;
            if (::setrlimit(RLIMIT_STACK, &limit) != 0)
                channel.fail("setrlimit RLIMIT_STACK", errno);
            descend_to_the_end(Descent{&*record, frame_bytes, &channel});
        },
        timeout);
    return collect(*record, std::move(outcome));
}

}  // namespace tp
