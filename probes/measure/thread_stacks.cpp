#include "thread_stacks.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace tp {
namespace {

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr std::uint64_t kPresent = 1ull << 63;
constexpr std::uint64_t kSwapped = 1ull << 62;
constexpr std::uint64_t kGuardRegion = 1ull << 58;  // MADV_GUARD_INSTALL, Linux >= 6.15
// A thread running at the instant its syscall file is read shows no stack pointer; it is
// read again this many times before the thread is reported as not located.
constexpr int kSyscallReads = 5;

std::optional<std::uint64_t> parse_hex(std::string_view text) {
    if (text.rfind("0x", 0) == 0) text.remove_prefix(2);
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return v;
}

// "202 0x... 0x... 0x... 0x... 0x... 0x... 0x7ffd5c0 0x7f12..." (number, six arguments, stack
// pointer, program counter), "-1 SP PC" outside a syscall, or "running".
std::optional<std::uint64_t> stack_pointer_of(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.size() == 9) return parse_hex(words[7]);
    if (words.size() == 3) return parse_hex(words[1]);
    return std::nullopt;
}

// Name and state from /proc/PID/task/TID/stat: "tid (comm) S ...", comm may hold spaces.
bool read_task_stat(const std::string& text, std::string& name, char& state) {
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= text.size())
        return false;
    name = text.substr(open + 1, close - open - 1);
    state = text[close + 2];
    return true;
}

// The state letter of /proc/PID/status's "State:\tS (sleeping)" line; '?' when absent.
char status_state(const std::string& text) {
    const auto at = text.find("State:");
    if (at == std::string::npos) return '?';
    const auto letter = text.find_first_not_of(" \t", at + 6);
    return letter == std::string::npos ? '?' : text[letter];
}

std::string errno_text(int e) {
    return std::strerror(e);
}

// The file's whole text; InspectError naming it and why when it cannot be read.
std::string read_or_explain(const std::filesystem::path& path, pid_t pid) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT || e == ESRCH)
            throw InspectError(fmt::format("pid {}: no such process", pid));
        throw InspectError(fmt::format("cannot read {}: {} (root, or the process's own user, can)",
                                       path.string(), errno_text(e)));
    }
    std::string out;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            if (e == ESRCH) throw InspectError(fmt::format("pid {}: no such process", pid));
            throw InspectError(
                fmt::format("cannot read {}: {} (root, or the process's own user, can)",
                            path.string(), errno_text(e)));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// Present (or swapped) pages of [start, end) from one pagemap read, the lowest of them, and the
// guard-region pages (counted apart: they are neither stack nor resident).
struct PageScan {
    std::uint64_t resident_pages = 0;
    std::optional<std::uint64_t> lowest_resident;  // address
    std::uint64_t guard_pages = 0;
    std::uint64_t guard_top = 0;  // address just above the highest guard page
};

// `entries` is the caller's, reused from one stack to the next.
std::optional<PageScan> scan_pages(int pagemap_fd, std::uint64_t start, std::uint64_t end,
                                   std::uint64_t page, std::vector<std::uint64_t>& entries) {
    const std::uint64_t pages = (end - start) / page;
    entries.resize(pages);
    const auto bytes = static_cast<std::size_t>(pages * sizeof(std::uint64_t));
    const ssize_t got = ::pread(pagemap_fd, entries.data(), bytes,
                                static_cast<off_t>(start / page * sizeof(std::uint64_t)));
    if (got != static_cast<ssize_t>(bytes)) return std::nullopt;
    PageScan scan;
    for (std::uint64_t i = 0; i < pages; ++i) {
        const std::uint64_t e = entries[i];
        if (e & kGuardRegion) {
            ++scan.guard_pages;
            scan.guard_top = start + (i + 1) * page;
            continue;
        }
        if (e & (kPresent | kSwapped)) {
            ++scan.resident_pages;
            if (!scan.lowest_resident) scan.lowest_resident = start + i * page;
        }
    }
    return scan;
}

// glibc's layout of a thread stack: an anonymous read-write mapping with its PROT_NONE guard
// directly below (a malloc arena is the other way up: its reserve lies above it).
bool stack_shaped(const std::vector<Mapping>& maps, std::size_t i) {
    return i > 0 && maps[i].perms == "rw-p" && maps[i].path.empty() &&
           maps[i - 1].perms == "---p" && maps[i - 1].end == maps[i].start;
}

// Threads running at every read of their syscall file have no stack pointer. The stack-shaped
// mappings no located thread claims are theirs when there are exactly as many of them (of the
// located threads' stack size, where any was located): the totals are then exact, though
// which of several is whose is a guess, said so. More unclaimed stacks than running threads
// (glibc caches the stacks of exited threads) leave them unlocated, with the counts.
void locate_by_layout(const std::vector<Mapping>& maps, std::vector<ThreadStack>& threads) {
    std::vector<ThreadStack*> running;
    std::vector<std::uint64_t> claimed_starts, sizes;
    for (auto& t : threads) {
        if (!t.located() && !t.main && !t.stack_pointer) running.push_back(&t);
        if (t.located() && !t.main) {
            claimed_starts.push_back(t.start);
            sizes.push_back(t.end - t.start);
        }
    }
    if (running.empty()) return;
    std::sort(claimed_starts.begin(), claimed_starts.end());
    std::vector<std::size_t> unclaimed;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        if (!stack_shaped(maps, i)) continue;
        const Mapping& m = maps[i];
        const auto first_at_or_above =
            std::lower_bound(claimed_starts.begin(), claimed_starts.end(), m.start);
        const bool claimed =
            first_at_or_above != claimed_starts.end() && *first_at_or_above < m.end;
        const bool sized =
            sizes.empty() || std::find(sizes.begin(), sizes.end(), m.end - m.start) != sizes.end();
        if (!claimed && sized) unclaimed.push_back(i);
    }
    if (unclaimed.size() != running.size()) {
        for (ThreadStack* t : running)
            t->located_by = fmt::format(
                "not located: running at every read; {} unclaimed stack mappings for {} "
                "running threads",
                unclaimed.size(), running.size());
        return;
    }
    // Newer threads get lower stacks from mmap: the highest unclaimed stack to the lowest tid.
    std::reverse(unclaimed.begin(), unclaimed.end());
    for (std::size_t k = 0; k < running.size(); ++k) {
        ThreadStack& t = *running[k];
        const std::size_t i = unclaimed[k];
        t.start = maps[i].start;
        t.end = maps[i].end;
        t.guard = "PROT_NONE mapping below";
        t.guard_kib = maps[i - 1].kib();
        t.located_by = running.size() == 1
                           ? "mapping layout: running; the one stack no blocked thread claims"
                           : fmt::format(
                                 "mapping layout: running; one of {} stacks no blocked thread "
                                 "claims (which is whose is a guess, the totals are exact)",
                                 running.size());
    }
}

// RLIMIT_STACK's soft value from /proc/PID/limits: the main thread's stack, and glibc's
// default for the others. Nothing when unlimited or unreadable.
std::optional<std::uint64_t> read_rlimit_stack(const std::filesystem::path& dir) {
    const auto limits = read_small_file(dir / "limits");
    if (!limits) return std::nullopt;
    const auto row = parse_rlimit(*limits, "Max stack size");
    return row ? row->soft : std::nullopt;
}

// The thread ids in /proc/PID/task, ascending.
std::vector<pid_t> list_tids(int task_dir) {
    std::vector<pid_t> tids;
    const int own = ::dup(task_dir);  // closedir() closes the descriptor it was given
    if (own < 0) return tids;
    DIR* listing = ::fdopendir(own);
    if (!listing) {
        ::close(own);
        return tids;
    }
    while (const dirent* entry = ::readdir(listing)) {
        const std::string_view name = entry->d_name;
        pid_t tid = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), tid).ec == std::errc())
            tids.push_back(tid);
    }
    ::closedir(listing);
    std::sort(tids.begin(), tids.end());
    return tids;
}

// Which mapping holds each thread's stack pointer; threads sharing one (stacks merged where no
// guard mapping separates them) split it by stride. The main thread's is [stack].
void locate_by_stack_pointer(const std::vector<Mapping>& maps, std::vector<ThreadStack>& threads) {
    std::map<std::size_t, std::vector<ThreadStack*>> by_mapping;
    for (auto& t : threads) {
        if (t.located()) continue;  // known from the previous inspection
        if (t.main) {
            const auto it = std::find_if(maps.begin(), maps.end(),
                                         [](const Mapping& m) { return m.path == "[stack]"; });
            if (it != maps.end()) {
                t.located_by = "[stack]";
                t.start = it->start;
                t.end = it->end;
                continue;
            }
        }
        if (!t.stack_pointer) {
            t.located_by = "not located: running, no stack pointer to read";  // see below
            continue;
        }
        // /proc/PID/maps is in address order: the mapping holding an address is found by
        // halving, which matters with 10,000 threads and twice as many mappings.
        auto it = std::upper_bound(
            maps.begin(), maps.end(), *t.stack_pointer,
            [](std::uint64_t address, const Mapping& m) { return address < m.start; });
        if (it != maps.begin()) --it;
        if (it == maps.end() || !(it->start <= *t.stack_pointer && *t.stack_pointer < it->end)) {
            t.located_by = "not located: its stack pointer is in no mapping";
            continue;
        }
        by_mapping[static_cast<std::size_t>(it - maps.begin())].push_back(&t);
    }
    for (auto& [index, sharing] : by_mapping) {
        const Mapping& m = maps[index];
        const std::uint64_t stride = (m.end - m.start) / sharing.size();
        for (ThreadStack* t : sharing) {
            if (sharing.size() == 1) {
                t->start = m.start;
                t->end = m.end;
                t->located_by = "stack pointer (syscall)";
            } else {
                const std::uint64_t slot = (*t->stack_pointer - m.start) / stride;
                t->start = m.start + slot * stride;
                t->end = t->start + stride;
                t->located_by = fmt::format(
                    "stack pointer, mapping split by stride ({} stacks in one)", sharing.size());
            }
            if (index > 0 && maps[index - 1].end == m.start && maps[index - 1].perms == "---p" &&
                t->start == m.start) {
                t->guard = "PROT_NONE mapping below";
                t->guard_kib = maps[index - 1].kib();
            }
        }
    }
}

// The main thread's [stack] grows downwards as it is used; a watch follows it without reading
// the mappings again: VmStk in /proc/PID/status is that mapping's size, its top does not move.
void follow_main_stack(std::uint64_t stack_vm_kib, std::vector<ThreadStack>& threads) {
    const auto main = std::find_if(threads.begin(), threads.end(), [](const ThreadStack& t) {
        return t.main && t.located() && t.located_by == "[stack]";
    });
    if (main != threads.end() && stack_vm_kib > 0 && stack_vm_kib * 1024 <= main->end)
        main->start = main->end - stack_vm_kib * 1024;
}

// PAGEMAP_SCAN (Linux >= 6.7, Documentation/admin-guide/mm/pagemap.rst): the kernel walks a
// range and returns only the runs of pages in the asked categories, so one call covers every
// stack of a watch instead of one read per stack. The ABI, as <linux/fs.h> of 6.7 defines it
// (Debian 12's headers predate it).
struct PageRegion {
    std::uint64_t start, end, categories;
};
struct PagemapScanArg {
    std::uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PagemapScanArg);
constexpr std::uint64_t kIsPresent = 1u << 3, kIsSwapped = 1u << 4;

// Runs of present or swapped pages in [start, end), ascending; nothing where the kernel has no
// PAGEMAP_SCAN (ENOTTY) or the file is not a pagemap (a fixture's).
std::optional<std::vector<PageRegion>> resident_regions(int pagemap_fd, std::uint64_t start,
                                                        std::uint64_t end) {
    std::vector<PageRegion> out, batch(4096);
    for (std::uint64_t at = start; at < end;) {
        PagemapScanArg arg{};
        arg.size = sizeof arg;
        arg.start = at;
        arg.end = end;
        arg.vec = reinterpret_cast<std::uintptr_t>(batch.data());
        arg.vec_len = batch.size();
        arg.category_anyof_mask = kIsPresent | kIsSwapped;
        arg.return_mask = kIsPresent | kIsSwapped;
        const int n = ::ioctl(pagemap_fd, kPagemapScan, &arg);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || arg.walk_end <= at) return std::nullopt;
        out.insert(out.end(), batch.begin(), batch.begin() + n);
        at = arg.walk_end;
    }
    // A call may report runs beyond the walk_end it returns (seen on 6.18: the [stack] run,
    // then reported again by the next call): runs are sorted and merged, never counted twice.
    std::sort(out.begin(), out.end(),
              [](const PageRegion& a, const PageRegion& b) { return a.start < b.start; });
    std::vector<PageRegion> merged;
    for (const PageRegion& r : out) {
        if (!merged.empty() && r.start <= merged.back().end)
            merged.back().end = std::max(merged.back().end, r.end);
        else
            merged.push_back(r);
    }
    return merged;
}

// Each stack's resident pages and its lowest one, from the regions of one scan: stacks and
// regions both ascending, so one pass over each.
void apply_regions(const std::vector<PageRegion>& regions, std::vector<ThreadStack*>& stacks,
                   std::uint64_t page) {
    std::sort(stacks.begin(), stacks.end(),
              [](const ThreadStack* a, const ThreadStack* b) { return a->start < b->start; });
    auto region = regions.begin();
    for (ThreadStack* t : stacks) {
        while (region != regions.end() && region->end <= t->start) ++region;
        std::uint64_t pages = 0;
        std::optional<std::uint64_t> lowest;
        for (auto r = region; r != regions.end() && r->start < t->end; ++r) {
            const std::uint64_t from = std::max(r->start, t->start);
            const std::uint64_t to = std::min(r->end, t->end);
            if (to <= from) continue;
            pages += (to - from) / page;
            if (!lowest) lowest = from;
        }
        t->resident_kib = pages * page / 1024;
        t->high_water_kib = lowest ? (t->end - *lowest) / 1024 : 0;
    }
}

// Every located stack's pages. A stack read for the first time is read page by page (its
// guard is found there: MADV_GUARD_INSTALL's guard bits); in a watch, the stacks already known
// are read together by one PAGEMAP_SCAN where the kernel has it. False if a read failed.
bool read_pages(int pagemap, StackInspection& out, bool watch) {
    std::vector<ThreadStack*> known;
    std::vector<std::uint64_t> entries;
    bool whole = true;
    for (auto& t : out.threads) {
        if (!t.located()) continue;
        if (watch && t.guard_known) {
            known.push_back(&t);
            continue;
        }
        const auto scan = scan_pages(pagemap, t.start, t.end, out.page_bytes, entries);
        if (!scan) {
            whole = false;
            out.incomplete_why = fmt::format(
                "thread {}'s pages could not be read: the process may have ended", t.tid);
            continue;
        }
        if (scan->guard_pages > 0) {
            // Installed with MADV_GUARD_INSTALL: inside the mapping, at its bottom.
            t.guard = "guard pages (pagemap)";
            t.guard_kib = scan->guard_pages * out.page_bytes / 1024;
            t.start = std::max(t.start, scan->guard_top);
        } else if (t.guard.empty()) {
            t.guard = t.main ? "the kernel's stack guard gap" : "none visible";
        }
        t.guard_known = true;
        t.reserved_kib = (t.end - t.start) / 1024;
        if (t.main && out.rlimit_stack) t.reserved_kib = *out.rlimit_stack / 1024;
        t.resident_kib = scan->resident_pages * out.page_bytes / 1024;
        t.high_water_kib = scan->lowest_resident ? (t.end - *scan->lowest_resident) / 1024 : 0;
    }
    if (known.empty()) return whole;
    std::uint64_t low = known.front()->start, high = known.front()->end;
    for (const ThreadStack* t : known) {
        low = std::min(low, t->start);
        high = std::max(high, t->end);
    }
    if (const auto regions = resident_regions(pagemap, low, high)) {
        apply_regions(*regions, known, out.page_bytes);
        return whole;
    }
    for (ThreadStack* t : known) {  // no PAGEMAP_SCAN: a read per stack
        const auto scan = scan_pages(pagemap, t->start, t->end, out.page_bytes, entries);
        if (!scan) {
            whole = false;
            continue;
        }
        t->resident_kib = scan->resident_pages * out.page_bytes / 1024;
        t->high_water_kib = scan->lowest_resident ? (t->end - *scan->lowest_resident) / 1024 : 0;
    }
    return whole;
}

}  // namespace

// "START-END PERMS OFFSET DEV INODE   PATH": the first five fields, then the path, which may
// hold spaces. Split by hand on string_views: 10,000 threads are 20,000 lines, and a stream
// per line cost more than the kernel took to write them.
std::vector<Mapping> parse_mappings(const std::string& text) {
    std::vector<Mapping> out;
    std::string_view rest = text;
    const auto next_field = [](std::string_view& line) {
        const auto begin = line.find_first_not_of(' ');
        if (begin == std::string_view::npos) {
            line = {};
            return std::string_view{};
        }
        line.remove_prefix(begin);
        const auto end = std::min(line.find(' '), line.size());
        const std::string_view field = line.substr(0, end);
        line.remove_prefix(end);
        return field;
    };
    while (!rest.empty()) {
        const auto newline = std::min(rest.find('\n'), rest.size());
        std::string_view line = rest.substr(0, newline);
        rest.remove_prefix(std::min(newline + 1, rest.size()));
        const std::string_view range = next_field(line), perms = next_field(line);
        const std::string_view offset = next_field(line), dev = next_field(line);
        const std::string_view inode = next_field(line);
        if (inode.empty() || offset.empty() || dev.empty()) continue;
        const auto path_begin = line.find_first_not_of(' ');
        const std::string_view path =
            path_begin == std::string_view::npos ? std::string_view{} : line.substr(path_begin);
        const auto dash = range.find('-');
        if (dash == std::string_view::npos) continue;
        const auto start = parse_hex(range.substr(0, dash));
        const auto end = parse_hex(range.substr(dash + 1));
        if (!start || !end || *end < *start) continue;
        out.push_back({*start, *end, std::string(perms), std::string(path)});
    }
    return out;
}

nlohmann::json to_json(const ThreadStack& t) {
    return {
        {"tid", t.tid},
        {"name", t.name},
        {"state", std::string(1, t.state)},
        {"main", t.main},
        {"stack_pointer", t.stack_pointer ? nlohmann::json(fmt::format("{:#x}", *t.stack_pointer))
                                          : nlohmann::json(nullptr)},
        {"located_by", t.located_by},
        {"mapping", t.located() ? nlohmann::json(fmt::format("{:x}-{:x}", t.start, t.end))
                                : nlohmann::json(nullptr)},
        {"stack_reserved_kib", t.reserved_kib},
        {"guard_kib", t.guard_kib},
        {"guard", t.guard},
        {"stack_resident_kib", t.resident_kib},
        {"stack_high_water_kib", t.high_water_kib}};
}

StackInspection inspect_thread_stacks(const ProcFs& fs, pid_t pid,
                                      const StackInspection* previous) {
    StackInspection out;
    out.pid = pid;
    const auto dir = fs.paths().proc / std::to_string(pid);
    char state = '?';
    std::optional<std::uint64_t> stack_vm_kib;
    if (previous) {
        // /proc/PID/stat sums every thread's CPU time, 10,000 of them each sample; status has
        // what a watch needs: the state, and the size of the main thread's [stack].
        const std::string status = read_or_explain(dir / "status", pid);
        out.name = previous->name;
        state = status_state(status);
        stack_vm_kib = status_field(status, "VmStk");
    } else {
        const std::string stat = read_or_explain(dir / "stat", pid);
        if (!read_task_stat(stat, out.name, state))
            throw InspectError(fmt::format("pid {}: unreadable {}", pid, (dir / "stat").string()));
    }
    if (state == 'Z')
        throw InspectError(
            fmt::format("pid {} ({}): a zombie, nothing left to inspect", pid, out.name));
    out.page_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    // The first inspection reads the limit; a watch keeps it.
    out.rlimit_stack = previous ? previous->rlimit_stack : read_rlimit_stack(dir);
    std::vector<Mapping> maps;
    if (!previous) {
        maps = parse_mappings(read_or_explain(dir / "maps", pid));
        if (maps.empty())
            throw InspectError(fmt::format(
                "pid {} ({}): a kernel thread: no user memory, no user stacks", pid, out.name));
    }
    const int pagemap = ::open((dir / "pagemap").c_str(), O_RDONLY | O_CLOEXEC);
    if (pagemap < 0)
        throw InspectError(fmt::format("cannot read {}: {} (root, or the process's own user, can)",
                                       (dir / "pagemap").string(), errno_text(errno)));

    // Every thread listed, then each one read: a thread that exits in between is counted.
    const int task_dir = ::open((dir / "task").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (task_dir < 0) {
        ::close(pagemap);
        throw InspectError(fmt::format("pid {}: no such process", pid));
    }
    const std::vector<pid_t> tids = list_tids(task_dir);
    // A thread already located keeps its stack: only its pages are read again. Both lists
    // are in tid order, so the previous one is walked alongside.
    const ThreadStack* known = previous ? previous->threads.data() : nullptr;
    const ThreadStack* known_end = previous ? known + previous->threads.size() : nullptr;
    bool all_known = true;
    for (const pid_t tid : tids) {
        while (known != known_end && known->tid < tid) ++known;
        if (known != known_end && known->tid == tid && known->located()) {
            out.threads.push_back(*known);
            continue;
        }
        all_known = false;
        const std::string task = std::to_string(tid);
        ThreadStack t;
        t.tid = tid;
        t.main = tid == pid;
        const auto task_stat = read_proc_record_at(task_dir, task + "/stat");
        if (!task_stat || !read_task_stat(*task_stat, t.name, t.state)) {
            ++out.vanished;
            continue;
        }
        for (int i = 0; i < kSyscallReads && !t.stack_pointer; ++i) {
            const auto syscall = read_proc_record_at(task_dir, task + "/syscall");
            if (!syscall) break;
            t.stack_pointer = stack_pointer_of(*syscall);
            if (!t.stack_pointer) std::this_thread::yield();
        }
        out.threads.push_back(t);
    }
    ::close(task_dir);

    if (!all_known) {
        // A watch reads the mappings again only when a thread is new to it.
        if (maps.empty()) maps = parse_mappings(read_or_explain(dir / "maps", pid));
        locate_by_stack_pointer(maps, out.threads);
        locate_by_layout(maps, out.threads);
    }
    if (stack_vm_kib) follow_main_stack(*stack_vm_kib, out.threads);

    if (!read_pages(pagemap, out, previous != nullptr)) {
        out.incomplete = true;
        if (out.incomplete_why.empty())
            out.incomplete_why = "the stacks' pages could not be read: the process may have ended";
    }
    ::close(pagemap);
    if (!std::filesystem::exists(dir / "stat")) {
        out.incomplete = true;
        out.incomplete_why = "the process ended while it was read";
    }
    return out;
}

}  // namespace tp
