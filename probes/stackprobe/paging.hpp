// Demand paging of a thread stack, measured: a thread recurses down its stack and, every
// `interval_bytes` of depth, counts the pages of its stack that are resident.
//
// The count comes from mincore() over the thread's own stack range (from
// pthread_getattr_np): exact, page by page, and blind to the rest of the process. RssAnon in
// /proc/self/status would do, but it counts every anonymous page of the process and the
// kernel keeps it in batched per-CPU counters, so single-page steps blur.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "child_run.hpp"
#include "descent.hpp"

namespace tp {

struct PagingConfig {
    // 1 MiB: large enough for a long curve, and smaller than a 2 MiB huge page, so
    // transparent huge pages (THP "always") cannot back it and hide the 4 KiB steps.
    std::size_t stack_bytes = std::size_t{1} << 20;
    // Frames well under a page and samples every KiB: each page's arrival is seen alone.
    std::size_t frame_bytes = 256;
    std::size_t interval_bytes = 1024;
    std::size_t depth_bytes = std::size_t{256} << 10;  // where the descent stops
};

struct PagingSample {
    std::uint64_t depth_bytes = 0;     // from the top of the stack to the current frame
    std::uint64_t resident_bytes = 0;  // pages of the whole stack range that are resident
};

struct PagingCurve {
    std::vector<PagingSample> samples;
    StackRange stack;
    ChildOutcome outcome;  // exit 0 when the curve is complete
};

// Throws std::invalid_argument for a config that does not fit its own stack.
PagingCurve measure_paging(const PagingConfig& config, std::chrono::milliseconds timeout);

}  // namespace tp
