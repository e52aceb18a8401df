#include "thread_stacks.hpp"

#include <fcntl.h>
#include <fmt/format.h>
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
    std::vector<std::size_t> unclaimed;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        if (!stack_shaped(maps, i)) continue;
        const Mapping& m = maps[i];
        const bool claimed =
            std::any_of(claimed_starts.begin(), claimed_starts.end(),
                        [&](std::uint64_t s) { return m.start <= s && s < m.end; });
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

}  // namespace

std::vector<Mapping> parse_mappings(const std::string& text) {
    std::vector<Mapping> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode, path;
        if (!(fields >> range >> perms >> offset >> dev >> inode)) continue;
        std::getline(fields >> std::ws, path);
        const auto dash = range.find('-');
        if (dash == std::string::npos) continue;
        const auto start = parse_hex(std::string_view(range).substr(0, dash));
        const auto end = parse_hex(std::string_view(range).substr(dash + 1));
        if (!start || !end || *end < *start) continue;
        out.push_back({*start, *end, perms, path});
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
    const std::string stat = read_or_explain(dir / "stat", pid);
    char state = '?';
    if (!read_task_stat(stat, out.name, state))
        throw InspectError(fmt::format("pid {}: unreadable {}", pid, (dir / "stat").string()));
    if (state == 'Z')
        throw InspectError(
            fmt::format("pid {} ({}): a zombie, nothing left to inspect", pid, out.name));
    const std::vector<Mapping> maps = parse_mappings(read_or_explain(dir / "maps", pid));
    if (maps.empty())
        throw InspectError(fmt::format(
            "pid {} ({}): a kernel thread: no user memory, no user stacks", pid, out.name));
    out.page_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    if (const auto limits = read_small_file(dir / "limits")) {
        std::istringstream in(*limits);
        for (std::string line; std::getline(in, line);)
            if (line.rfind("Max stack size", 0) == 0) {
                std::istringstream rest(line.substr(14));
                std::string soft;
                rest >> soft;
                std::uint64_t v = 0;
                if (std::from_chars(soft.data(), soft.data() + soft.size(), v).ec == std::errc())
                    out.rlimit_stack = v;
            }
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
    std::vector<pid_t> tids;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir / "task", ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string name = it->path().filename();
        pid_t tid = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), tid).ec == std::errc())
            tids.push_back(tid);
    }
    std::sort(tids.begin(), tids.end());
    // A thread already located keeps its stack: only its pages are read again.
    std::map<pid_t, const ThreadStack*> known;
    if (previous)
        for (const auto& t : previous->threads)
            if (t.located() && !t.main) known[t.tid] = &t;
    for (const pid_t tid : tids) {
        if (const auto it = known.find(tid); it != known.end()) {
            out.threads.push_back(*it->second);
            continue;
        }
        const std::string task = std::to_string(tid);
        ThreadStack t;
        t.tid = tid;
        t.main = tid == pid;
        const auto task_stat = read_small_file_at(task_dir, task + "/stat");
        if (!task_stat || !read_task_stat(*task_stat, t.name, t.state)) {
            ++out.vanished;
            continue;
        }
        for (int i = 0; i < kSyscallReads && !t.stack_pointer; ++i) {
            const auto syscall = read_small_file_at(task_dir, task + "/syscall");
            if (!syscall) break;
            t.stack_pointer = stack_pointer_of(*syscall);
            if (!t.stack_pointer) std::this_thread::yield();
        }
        out.threads.push_back(t);
    }
    ::close(task_dir);

    // Which mapping holds each thread's stack; threads sharing one (stacks merged where no
    // guard mapping separates them) split it by stride.
    std::map<std::size_t, std::vector<ThreadStack*>> by_mapping;
    for (auto& t : out.threads) {
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
    for (auto& [index, threads] : by_mapping) {
        const Mapping& m = maps[index];
        const std::uint64_t stride = (m.end - m.start) / threads.size();
        for (ThreadStack* t : threads) {
            if (threads.size() == 1) {
                t->start = m.start;
                t->end = m.end;
                t->located_by = "stack pointer (syscall)";
            } else {
                const std::uint64_t slot = (*t->stack_pointer - m.start) / stride;
                t->start = m.start + slot * stride;
                t->end = t->start + stride;
                t->located_by = fmt::format(
                    "stack pointer, mapping split by stride ({} stacks in one)", threads.size());
            }
            if (index > 0 && maps[index - 1].end == m.start && maps[index - 1].perms == "---p" &&
                t->start == m.start) {
                t->guard = "PROT_NONE mapping below";
                t->guard_kib = maps[index - 1].kib();
            }
        }
    }

    locate_by_layout(maps, out.threads);

    std::vector<std::uint64_t> entries;
    for (auto& t : out.threads) {
        if (!t.located()) continue;
        const auto scan = scan_pages(pagemap, t.start, t.end, out.page_bytes, entries);
        if (!scan) {
            out.incomplete = true;
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
        t.reserved_kib = (t.end - t.start) / 1024;
        if (t.main && out.rlimit_stack) t.reserved_kib = *out.rlimit_stack / 1024;
        t.resident_kib = scan->resident_pages * out.page_bytes / 1024;
        if (scan->lowest_resident) t.high_water_kib = (t.end - *scan->lowest_resident) / 1024;
    }
    ::close(pagemap);
    if (!std::filesystem::exists(dir / "stat")) {
        out.incomplete = true;
        out.incomplete_why = "the process ended while it was read";
    }
    return out;
}

}  // namespace tp
