#include "stackprobe.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <system_error>

#include "statistics.hpp"
#include "thread_stack.hpp"
#include "units.hpp"

namespace tp {
namespace {

std::string ended_by(const DepthRun& run, const DepthResult& r, StackKind kind,
                     std::uint64_t page_bytes) {
    if (!run.outcome.killed_by(SIGSEGV)) return run.outcome.describe();
    // The next level needed a frame plus the few words of its calls; with less than that
    // left, nothing but the end of the stack can have stopped it.
    if (r.frame_bytes && run.stack && r.below_last_frame_bytes < *r.frame_bytes + page_bytes)
        return kind == StackKind::main ? "SIGSEGV at RLIMIT_STACK" : "SIGSEGV at guard page";
    if (r.max_depth < 2) return "SIGSEGV before a second level fit";
    return fmt::format("SIGSEGV {} short of the end of the stack",
                       format_size(r.below_last_frame_bytes));
}

MainThreadResult run_main_thread(const StackProbeConfig& config, std::uint64_t page_bytes) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_STACK, &limit) != 0)
        throw std::system_error(errno, std::generic_category(), "getrlimit RLIMIT_STACK");
    MainThreadResult m;
    if (limit.rlim_cur != RLIM_INFINITY) m.rlimit_soft_bytes = limit.rlim_cur;
    m.rlimit_applied_bytes = std::min<std::uint64_t>(
        m.rlimit_soft_bytes.value_or(config.main_stack_cap_bytes), config.main_stack_cap_bytes);
    m.capped = !m.rlimit_soft_bytes || *m.rlimit_soft_bytes > m.rlimit_applied_bytes;
    const DepthRun run =
        run_main_thread_to_limit(m.rlimit_applied_bytes, config.frame_bytes, config.child_timeout);
    m.depth = interpret(run, format_size(m.rlimit_applied_bytes), m.rlimit_applied_bytes,
                        StackKind::main, page_bytes);
    return m;
}

PagingResult run_paging(const StackProbeConfig& config, std::uint64_t page_bytes) {
    PagingResult p;
    p.config = config.paging;
    p.page_bytes = page_bytes;
    PagingCurve curve = measure_paging(config.paging, config.child_timeout);
    p.samples = std::move(curve.samples);
    p.resident_step_bytes = typical_step(p.samples);
    p.complete = curve.outcome.exit_code == 0 && !curve.outcome.timed_out &&
                 curve.outcome.message.empty() && p.samples.size() >= 2;
    p.ended_by = p.complete
                     ? fmt::format("stopped at {} deep", format_size(config.paging.depth_bytes))
                     : curve.outcome.describe();
    return p;
}

}  // namespace

std::optional<std::uint64_t> median_frame_bytes(const std::vector<std::uintptr_t>& addresses) {
    if (addresses.size() < 2) return std::nullopt;
    std::vector<std::uint64_t> distances;
    for (std::size_t i = 1; i < addresses.size(); ++i)
        if (addresses[i] < addresses[i - 1]) distances.push_back(addresses[i - 1] - addresses[i]);
    if (distances.empty()) return std::nullopt;
    return median(std::move(distances));
}

std::optional<std::uint64_t> typical_step(const std::vector<PagingSample>& samples) {
    std::map<std::uint64_t, std::size_t> steps;  // ordered: ties go to the smaller step
    for (std::size_t i = 1; i < samples.size(); ++i)
        if (samples[i].resident_bytes > samples[i - 1].resident_bytes)
            ++steps[samples[i].resident_bytes - samples[i - 1].resident_bytes];
    if (steps.empty()) return std::nullopt;
    return std::max_element(steps.begin(), steps.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
}

DepthResult interpret(const DepthRun& run, std::string requested, std::uint64_t stack_bytes,
                      StackKind kind, std::uint64_t page_bytes) {
    DepthResult r;
    r.requested = std::move(requested);
    r.stack_bytes = stack_bytes;
    r.max_depth = run.levels;
    r.frame_bytes = median_frame_bytes(run.first_addresses);
    if (run.stack) r.guard_bytes = run.stack->guard_bytes;
    if (r.frame_bytes && run.stack) {
        const std::uint64_t frame = *r.frame_bytes;
        r.usable_bytes = r.max_depth * frame;
        r.usable_ratio =
            stack_bytes ? static_cast<double>(r.usable_bytes) / static_cast<double>(stack_bytes)
                        : 0;
        // The nominal top: low + size. For a thread that is the top of its mapping; for the
        // main thread glibc derives `low` from RLIMIT_STACK counted from the top of the
        // [stack] mapping, as the kernel counts it, so it is that top.
        const std::uintptr_t top = run.stack->low + stack_bytes;
        const std::uintptr_t first_frame_end = run.first_addresses.front() + frame;
        r.above_first_frame_bytes = top > first_frame_end ? top - first_frame_end : 0;
        r.below_last_frame_bytes =
            run.deepest_address > run.stack->low ? run.deepest_address - run.stack->low : 0;
        if (kind == StackKind::thread && run.thread_descriptor >= first_frame_end &&
            run.thread_descriptor < top)
            r.descriptor_bytes = top - run.thread_descriptor;
    }
    r.ended_by = ended_by(run, r, kind, page_bytes);
    r.reached_end = r.ended_by.rfind("SIGSEGV at ", 0) == 0;
    return r;
}

int StackProbeResult::exit_code() const {
    const bool all_ended = std::all_of(threads.begin(), threads.end(),
                                       [](const DepthResult& r) { return r.reached_end; });
    return all_ended && main_thread.depth.reached_end && paging.complete ? 0 : 1;
}

StackProbeResult run_stackprobe(const StackProbeConfig& config) {
    const auto page_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t default_stack = default_thread_stack();
    StackProbeResult result;
    result.config = config;
    result.context =
        read_machine_context(ProcFs{}, ::getpid(), ThreadCost::for_stack(default_stack, false));
    for (const auto& stack : config.stacks) {
        const DepthRun run = run_thread_to_guard(stack, config.frame_bytes, config.child_timeout);
        result.threads.push_back(interpret(run, stack ? format_size(*stack) : "default",
                                           stack.value_or(default_stack), StackKind::thread,
                                           page_bytes));
    }
    result.main_thread = run_main_thread(config, page_bytes);
    result.paging = run_paging(config, page_bytes);
    return result;
}

}  // namespace tp
