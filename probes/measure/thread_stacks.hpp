// Every thread's stack in a live process, read from /proc alone: never a ptrace stop, never a
// signal. A blocked thread's stack pointer is in /proc/PID/task/TID/syscall (kstkesp in stat
// reads zero on current kernels); the mapping that holds it, in /proc/PID/maps; which of its
// pages are resident, in /proc/PID/pagemap (present bits, readable without root since 4.2).
// Stack pages stay resident once touched, so the lowest resident page is how deep the thread
// has ever gone: its high-water mark.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "procfs.hpp"

namespace tp {

// A process that cannot be inspected, in one line: "pid 42: no such process", "... permission
// denied: /proc/42/pagemap (root, or the process's own user, can read it)".
class InspectError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One line of /proc/PID/maps.
struct Mapping {
    std::uint64_t start = 0, end = 0;
    std::string perms;  // "rw-p"
    std::string path;   // "[stack]", a file, or empty for anonymous memory
    std::uint64_t kib() const { return (end - start) / 1024; }
};
std::vector<Mapping> parse_mappings(const std::string& maps_text);

struct ThreadStack {
    pid_t tid = 0;
    std::string name;  // comm
    char state = '?';  // R, S, D, ...
    bool main = false;
    std::optional<std::uint64_t> stack_pointer;
    // "stack pointer (syscall)", "stack pointer, mapping split by stride", "[stack]" (the main
    // thread), "mapping layout: running; ..." (a thread never seen blocked, given the stack
    // no other thread claims), or "not located: ..." with why.
    std::string located_by;
    std::uint64_t start = 0, end = 0;  // the thread's own stack, guard excluded
    std::uint64_t reserved_kib = 0;
    std::uint64_t guard_kib = 0;
    std::string guard;  // "PROT_NONE mapping below", "guard pages (pagemap)", "none visible"
    std::uint64_t resident_kib = 0;
    std::uint64_t high_water_kib = 0;  // from the top of the stack to its deepest resident page
    // Its pages have been read once, which is where its guard is found: a watch then reads
    // them with every other known stack's at once.
    bool guard_known = false;

    bool located() const { return end > start; }
};
nlohmann::json to_json(const ThreadStack& t);

struct StackInspection {
    pid_t pid = 0;
    std::string name;
    std::vector<ThreadStack> threads;
    std::uint64_t vanished = 0;  // threads listed that had exited before they were read
    std::uint64_t page_bytes = 4096;
    std::optional<std::uint64_t> rlimit_stack;  // the main thread's RLIMIT_STACK, bytes
    // The process ended while it was read: what was read is kept, marked so.
    bool incomplete = false;
    std::string incomplete_why;
};

// Throws InspectError for a process that is gone, a zombie, a kernel thread (no user stacks),
// or one whose maps or pagemap the caller may not read. Given the `previous` inspection of the
// same process (--watch), threads it located keep their stacks and names, and only their pages
// are read again: 10,000 threads cost 10,000 pagemap reads a sample, not 30,000 file reads.
StackInspection inspect_thread_stacks(const ProcFs& fs, pid_t pid,
                                      const StackInspection* previous = nullptr);

}  // namespace tp
