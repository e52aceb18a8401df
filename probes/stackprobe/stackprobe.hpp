// stackprobe: how deep a recursion with frames of a known size gets before the guard page
// stops it, per pthread stack size, and for the main thread under RLIMIT_STACK; and resident
// memory against depth, which shows a stack being backed one page at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"
#include "depth.hpp"
#include "paging.hpp"

namespace tp {

struct StackProbeConfig {
    std::vector<std::optional<std::size_t>> stacks;  // whole pages; nullopt: pthread's default
    std::size_t frame_bytes = 256;                   // each level's buffer
    // The main thread runs under min(RLIMIT_STACK, this): an unlimited RLIMIT_STACK must not
    // let one recursion take the machine's memory.
    std::uint64_t main_stack_cap_bytes = std::uint64_t{64} << 20;
    PagingConfig paging;
    std::chrono::milliseconds child_timeout{std::chrono::seconds(30)};
};

// One recursion to the end of one stack, interpreted.
struct DepthResult {
    std::string requested;                     // "64 KiB", "default"
    std::uint64_t stack_bytes = 0;             // the stack's size, the default resolved
    std::uint64_t max_depth = 0;               // levels that fit
    std::optional<std::uint64_t> frame_bytes;  // measured between levels; unknown below two
    std::uint64_t usable_bytes = 0;            // max_depth x frame_bytes
    double usable_ratio = 0;                   // usable_bytes / stack_bytes
    std::uint64_t guard_bytes = 0;             // mapped below the stack, beyond stack_bytes
    // stack_bytes - usable_bytes, in two parts: what sits above the first frame (glibc's
    // thread descriptor and static TLS, the start-up frames; for the main thread the
    // arguments, environment and everything main() called before), and what was left below
    // the last frame, too little for one more.
    std::uint64_t above_first_frame_bytes = 0;
    std::uint64_t below_last_frame_bytes = 0;
    // Of above_first_frame_bytes, for a thread: glibc's descriptor (struct pthread), from
    // pthread_self() to the top; the rest is static TLS (with glibc's reserve for libraries
    // loaded later) and the start-up frames. 0 for the main thread, whose descriptor is not
    // on its stack.
    std::uint64_t descriptor_bytes = 0;
    std::string ended_by;      // "SIGSEGV at guard page", or what went wrong instead
    bool reached_end = false;  // it ended the way a stack overflow ends
};

struct MainThreadResult {
    std::optional<std::uint64_t> rlimit_soft_bytes;  // as found; std::nullopt = unlimited
    std::uint64_t rlimit_applied_bytes = 0;          // the child's soft limit for the run
    bool capped = false;                             // applied < found
    DepthResult depth;
};

struct PagingResult {
    PagingConfig config;
    std::uint64_t page_bytes = 0;                      // sysconf(_SC_PAGESIZE)
    std::optional<std::uint64_t> resident_step_bytes;  // the typical increment, as measured
    std::vector<PagingSample> samples;
    std::string ended_by;
    bool complete = false;
};

struct StackProbeResult {
    StackProbeConfig config;
    MachineContext context;
    std::vector<DepthResult> threads;
    MainThreadResult main_thread;
    PagingResult paging;

    int exit_code() const;  // 0 when every run ended as it should, 1 otherwise
};

// Throws std::system_error if a child cannot be started at all; anything that goes wrong
// inside a run is in that run's result.
StackProbeResult run_stackprobe(const StackProbeConfig& config);

// The interpretation, apart from the runs so it can be tested without crashing anything.

// Median distance between consecutive levels' frames (the stack grows down; tp::median, so
// for an even count the mean of the two middle distances); std::nullopt with fewer than two
// levels.
std::optional<std::uint64_t> median_frame_bytes(const std::vector<std::uintptr_t>& addresses);

// The most frequent nonzero increase of resident bytes between consecutive samples (the
// smaller one on a tie); std::nullopt if resident memory never grew.
std::optional<std::uint64_t> typical_step(const std::vector<PagingSample>& samples);

enum class StackKind { thread, main };

DepthResult interpret(const DepthRun& run, std::string requested, std::uint64_t stack_bytes,
                      StackKind kind, std::uint64_t page_bytes);

}  // namespace tp
