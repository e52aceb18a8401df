#include "paging.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <vector>

namespace tp {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr std::size_t kMaxSamples = 4096;

// Shared with the parent (see SharedMapping).
struct PagingRecord {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> depth_bytes[kMaxSamples];
    std::atomic<std::uint64_t> resident_bytes[kMaxSamples];
    std::atomic<std::uintptr_t> stack_low{0};
    std::atomic<std::uintptr_t> stack_high{0};
};

class ResidencySampler final : public LevelObserver {
  public:
    ResidencySampler(const PagingConfig& config, const StackRange& stack, PagingRecord& record,
                     const ChildChannel& channel)
        : config_(config),
          stack_(stack),
          record_(record),
          channel_(channel),
          page_bytes_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))),
          // Allocated once, before the descent: sampling allocates nothing as it goes.
          residency_(stack.bytes() / page_bytes_) {}

    bool at_level(std::uint64_t, std::uintptr_t address) override {
        const std::uint64_t depth = stack_.high - address;
        if (depth >= next_sample_) {
            sample(depth);
            while (next_sample_ <= depth) next_sample_ += config_.interval_bytes;
        }
        return depth < config_.depth_bytes;
    }

  private:
    void sample(std::uint64_t depth) {
        if (::mincore(reinterpret_cast<void*>(stack_.low), stack_.bytes(), residency_.data()) != 0)
            channel_.fail("mincore", errno);
        std::uint64_t resident_pages = 0;
        for (const unsigned char page : residency_) resident_pages += page & 1u;
        const std::uint64_t i = record_.count.load(relaxed);
        if (i >= kMaxSamples) channel_.fail("more paging samples than the record holds");
        record_.depth_bytes[i].store(depth, relaxed);
        record_.resident_bytes[i].store(resident_pages * page_bytes_, relaxed);
        record_.count.store(i + 1, relaxed);
    }

    const PagingConfig& config_;
    StackRange stack_;
    PagingRecord& record_;
    const ChildChannel& channel_;
    std::size_t page_bytes_;
    std::vector<unsigned char> residency_;
    std::uint64_t next_sample_ = 0;
};

struct PagingThread {
    const PagingConfig* config;
    PagingRecord* record;
    const ChildChannel* channel;
};

void* paging_thread_main(void* arg) {
    const auto& t = *static_cast<const PagingThread*>(arg);
    StackRange stack;
    if (const int rc = this_thread_stack(stack); rc != 0) t.channel->fail("pthread_getattr_np", rc);
    t.record->stack_low.store(stack.low, relaxed);
    t.record->stack_high.store(stack.high, relaxed);
    ResidencySampler sampler(*t.config, stack, *t.record, *t.channel);
    descend(t.config->frame_bytes, sampler);
    return nullptr;
}

}  // namespace

PagingCurve measure_paging(const PagingConfig& config, std::chrono::milliseconds timeout) {
    if (config.interval_bytes == 0 || config.depth_bytes / config.interval_bytes + 2 > kMaxSamples)
        throw std::invalid_argument("paging: interval too small for the depth");
    if (config.depth_bytes + config.frame_bytes > config.stack_bytes / 2)
        throw std::invalid_argument("paging: the descent must stay in the upper half of its stack");
    SharedMapping<PagingRecord> record;
    ChildOutcome outcome = run_in_child(
        [&](const ChildChannel& channel) {
            pthread_attr_t attr;
            ::pthread_attr_init(&attr);
            if (const int rc = ::pthread_attr_setstacksize(&attr, config.stack_bytes); rc != 0)
                channel.fail("pthread_attr_setstacksize", rc);
            PagingThread thread_args{&config, &*record, &channel};
            pthread_t thread;
            if (const int rc = ::pthread_create(&thread, &attr, paging_thread_main, &thread_args);
                rc != 0)
                channel.fail("pthread_create", rc);
            ::pthread_join(thread, nullptr);
        },
        timeout);
    PagingCurve curve;
    const std::uint64_t count = record->count.load(relaxed);
    for (std::uint64_t i = 0; i < count; ++i)
        curve.samples.push_back(
            {record->depth_bytes[i].load(relaxed), record->resident_bytes[i].load(relaxed)});
    curve.stack.low = record->stack_low.load(relaxed);
    curve.stack.high = record->stack_high.load(relaxed);
    curve.outcome = std::move(outcome);
    return curve;
}

}  // namespace tp
