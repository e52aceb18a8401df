// stackprobe: how deep a recursion gets per stack size before the guard page stops it, and
// how a stack is paged in as it deepens.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "cli.hpp"
#include "result_outputs.hpp"
#include "stackprobe.hpp"
#include "stackprobe_report.hpp"
#include "thread_stack.hpp"
#include "units.hpp"

namespace {

// Smaller than a few locals plus a return address, and the "frame" would be mostly overhead;
// larger than 64 KiB, and a 16 KiB stack could not hold one.
constexpr std::uint64_t kMinFrame = 16;
constexpr std::uint64_t kMaxFrame = 64 * 1024;
// A depth from fewer frames than this says more about the thread's overhead than its stack.
constexpr std::uint64_t kMinFramesPerStack = 4;

tp::StackSizeList default_stacks() {
    tp::StackSizeList list;
    for (const std::uint64_t kib : {16, 64, 256, 1024, 8192})
        list.sizes.push_back(tp::StackSize{kib * 1024});
    return list;
}

struct Options {
    tp::StackSizeList stacks = default_stacks();
    tp::ByteSize frame{tp::StackProbeConfig{}.frame_bytes};
    tp::OutputOptions output;
};

tp::StackProbeConfig to_config(const Options& o) {
    tp::StackProbeConfig c;
    for (const auto& size : o.stacks.sizes)
        c.stacks.push_back(tp::thread_stack_for(size, "stackprobe"));
    tp::require_range("frame", o.frame.bytes, kMinFrame, kMaxFrame);
    c.frame_bytes = static_cast<std::size_t>(o.frame.bytes);
    const std::uint64_t default_stack = tp::default_thread_stack();
    std::uint64_t smallest = tp::kMaxThreadStack;
    for (const auto& stack : c.stacks)
        smallest = std::min<std::uint64_t>(smallest, stack.value_or(default_stack));
    if (c.frame_bytes * kMinFramesPerStack > smallest)
        throw tp::UsageError(fmt::format(
            "option '--frame': {} leaves fewer than {} frames in the {} stack",
            tp::format_size(c.frame_bytes), kMinFramesPerStack, tp::format_size(smallest)));
    return c;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    Options o;
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("stack,s", po::value(&o.stacks)->value_name("SIZES"), fmt::format("pthread stack sizes to sweep, comma-separated: 16k, 64k, 1m or 'default' (default {})", tp::describe(o.stacks)).c_str())
        ("frame", po::value(&o.frame)->value_name("BYTES"), fmt::format("buffer in each recursion level's frame, {} to {} (default {})", kMinFrame, tp::format_size(kMaxFrame), o.frame.bytes).c_str());
    // clang-format on
    tp::add_output_options(options, o.output,
                           "write results as JSON (context, config, results, main_thread, paging)",
                           {}, "no table on stdout");
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "stackprobe", "[--stack SIZES] [--frame BYTES] [options]", options, argc, argv, vm))
        return *done;
    const tp::StackProbeConfig config = to_config(o);

    tp::ResultOutputs outputs(o.output);
    const tp::StackProbeResult result = tp::run_stackprobe(config);
    outputs.write(tp::to_json(result), tp::to_table(result));
    for (const auto& d : result.threads)
        if (!d.reached_end)
            std::cerr << fmt::format("stackprobe: the {} stack's run ended badly: {}\n",
                                     d.requested, d.ended_by);
    if (!result.main_thread.depth.reached_end)
        std::cerr << fmt::format("stackprobe: the main thread's run ended badly: {}\n",
                                 result.main_thread.depth.ended_by);
    if (!result.paging.complete)
        std::cerr << fmt::format("stackprobe: the paging curve is incomplete: {}\n",
                                 result.paging.ended_by);
    return result.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("stackprobe", [&] { return run(argc, argv); });
}
