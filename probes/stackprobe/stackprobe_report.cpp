#include "stackprobe_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "units.hpp"

namespace tp {
namespace {

using nlohmann::json;

// Four decimals: beyond that a ratio of byte counts is noise.
double ratio(double v) {
    return std::round(v * 1e4) / 1e4;
}

json depth_json(const DepthResult& d) {
    return {{"requested", d.requested},
            {"stack_bytes", d.stack_bytes},
            {"max_depth", d.max_depth},
            {"frame_bytes", d.frame_bytes ? json(*d.frame_bytes) : json(nullptr)},
            {"usable_bytes", d.usable_bytes},
            {"usable_ratio", ratio(d.usable_ratio)},
            {"guard_bytes", d.guard_bytes},
            {"above_first_frame_bytes", d.above_first_frame_bytes},
            {"below_last_frame_bytes", d.below_last_frame_bytes},
            {"descriptor_bytes", d.descriptor_bytes},
            {"ended_by", d.ended_by}};
}

json config_json(const StackProbeResult& r) {
    json stacks = json::array();
    for (std::size_t i = 0; i < r.config.stacks.size() && i < r.threads.size(); ++i)
        stacks.push_back(
            {{"requested", r.threads[i].requested}, {"stack_bytes", r.threads[i].stack_bytes}});
    const PagingConfig& p = r.config.paging;
    return {{"stacks", stacks},
            {"frame_bytes", r.config.frame_bytes},
            {"main_stack_cap_bytes", r.config.main_stack_cap_bytes},
            {"paging",
             {{"stack_bytes", p.stack_bytes},
              {"frame_bytes", p.frame_bytes},
              {"interval_bytes", p.interval_bytes},
              {"depth_bytes", p.depth_bytes}}}};
}

json main_thread_json(const MainThreadResult& m) {
    json j = depth_json(m.depth);
    j["rlimit_stack_soft_bytes"] = m.rlimit_soft_bytes ? json(*m.rlimit_soft_bytes) : json(nullptr);
    j["rlimit_applied_bytes"] = m.rlimit_applied_bytes;
    j["capped"] = m.capped;
    j["note"] =
        "the main thread's stack grows on demand up to RLIMIT_STACK; stack_bytes is the soft "
        "limit the run had";
    return j;
}

json paging_json(const PagingResult& p) {
    json samples = json::array();
    for (const auto& s : p.samples)
        samples.push_back(
            {{"depth_bytes", s.depth_bytes}, {"resident_kib", s.resident_bytes / 1024}});
    return {{"page_bytes", p.page_bytes},
            {"resident_step_bytes",
             p.resident_step_bytes ? json(*p.resident_step_bytes) : json(nullptr)},
            {"source", "mincore() over the thread's stack range (pthread_getattr_np)"},
            {"stack_bytes", p.config.stack_bytes},
            {"frame_bytes", p.config.frame_bytes},
            {"interval_bytes", p.config.interval_bytes},
            {"depth_bytes", p.config.depth_bytes},
            {"ended_by", p.ended_by},
            {"samples", samples}};
}

std::string kib(std::uint64_t bytes) {
    return format_kib(static_cast<double>(bytes) / 1024);
}

std::string percent(double ratio) {
    return fmt::format("{:.1f} %", ratio * 100);
}

std::string depth_row(const std::string& label, const DepthResult& d) {
    return fmt::format(
        "{:<18} {:>8} {:>9} {:>11} {:>9} {:>16}   {}\n", label, d.max_depth,
        d.frame_bytes ? fmt::format("{} B", *d.frame_bytes) : "-",
        format_kib(static_cast<double>(d.usable_bytes) / 1024), percent(d.usable_ratio),
        format_kib(static_cast<double>(d.above_first_frame_bytes) / 1024), d.ended_by);
}

std::string paging_lines(const PagingResult& p) {
    std::string out = fmt::format(
        "paging: one {} thread stack, {} B frames, resident pages of the stack counted (mincore)\n"
        "        every {} of depth down to {}:",
        format_size(p.config.stack_bytes), p.config.frame_bytes,
        format_size(p.config.interval_bytes), format_size(p.config.depth_bytes));
    if (p.samples.empty()) return out + fmt::format(" no samples: {}\n", p.ended_by);
    const PagingSample& first = p.samples.front();
    const PagingSample& last = p.samples.back();
    out += fmt::format(
        " resident grows in steps of {} (page {} B),\n        {} at {} deep, {} at {} deep\n",
        p.resident_step_bytes ? fmt::format("{} B", *p.resident_step_bytes)
                              : "none (it never grew)",
        p.page_bytes, kib(first.resident_bytes), kib(first.depth_bytes), kib(last.resident_bytes),
        kib(last.depth_bytes));
    // Where the first few pages arrived: the staircase, in one line.
    std::string steps;
    int shown = 0;
    for (std::size_t i = 1; i < p.samples.size() && shown < 5; ++i) {
        if (p.samples[i].resident_bytes == p.samples[i - 1].resident_bytes) continue;
        steps += fmt::format("{}{:.1f} -> {:.0f}", shown ? ", " : "",
                             static_cast<double>(p.samples[i].depth_bytes) / 1024,
                             static_cast<double>(p.samples[i].resident_bytes) / 1024);
        ++shown;
    }
    if (!steps.empty())
        out += fmt::format("        first steps, KiB deep -> resident: {}\n", steps);
    if (!p.complete) out += fmt::format("        incomplete: {}\n", p.ended_by);
    return out;
}

}  // namespace

json to_json(const StackProbeResult& r) {
    json results = json::array();
    for (const auto& d : r.threads) results.push_back(depth_json(d));
    return {{"tool", "stackprobe"},
            {"version", THREADPROBE_VERSION},
            {"context", to_json(r.context)},
            {"config", config_json(r)},
            {"results", results},
            {"main_thread", main_thread_json(r.main_thread)},
            {"paging", paging_json(r.paging)}};
}

std::string to_table(const StackProbeResult& r) {
    std::string out =
        fmt::format("stackprobe {}: recursion until the stack runs out, {} B asked per frame\n",
                    THREADPROBE_VERSION, r.config.frame_bytes);
    out += fmt::format("machine: {}\n         {}, glibc {}, page {} B\n\n",
                       r.context.topology.summary(), r.context.kernel, r.context.glibc,
                       r.context.page_size);
    out += fmt::format("{:<18} {:>8} {:>9} {:>11} {:>9} {:>16}   {}\n", "stack", "depth", "frame",
                       "usable", "of stack", "above 1st frame", "ended by");
    for (const auto& d : r.threads) {
        const std::string label = d.requested == "default"
                                      ? format_size(d.stack_bytes) + " (default)"
                                      : format_size(d.stack_bytes);
        out += depth_row(label, d);
    }
    const MainThreadResult& m = r.main_thread;
    out += depth_row("main " + format_size(m.rlimit_applied_bytes), m.depth);

    out += "\nusable = depth x frame, the frame measured between levels.\n";
    // The same for every size: glibc lays out each new thread's stack alike.
    const auto measured = std::find_if(r.threads.begin(), r.threads.end(),
                                       [](const DepthResult& d) { return d.descriptor_bytes > 0; });
    if (measured != r.threads.end())
        out += fmt::format(
            "Above a thread's first frame ({}): glibc's thread descriptor ({}), then static TLS\n"
            "and the start-up frames ({}), all inside the stack; the {} guard page is mapped\n"
            "below the stack, in addition to it.\n",
            kib(measured->above_first_frame_bytes), kib(measured->descriptor_bytes),
            kib(measured->above_first_frame_bytes - measured->descriptor_bytes),
            format_size(measured->guard_bytes));
    out +=
        fmt::format("The main thread's stack grows on demand up to RLIMIT_STACK (soft limit {}).\n",
                    m.rlimit_soft_bytes ? format_size(*m.rlimit_soft_bytes) : "unlimited");
    if (m.capped)
        out += fmt::format(
            "This run lowered it to {}, so that one recursion cannot take the "
            "machine's memory.\n",
            format_size(m.rlimit_applied_bytes));
    out += "Above its first frame: arguments, environment and the frames main() called first.\n\n";
    out += paging_lines(r.paging);
    return out;
}

}  // namespace tp
