// What a program leaves behind, read from /proc: the processes descended from it and those in
// its process groups. A probe that exits must take its children and its embedded server (which
// has a process group of its own, shared with the server's workers) with it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tp::test {

struct ProcessEntry {
    pid_t pid = 0;
    pid_t ppid = 0;
    pid_t pgid = 0;
    char state = '?';
    unsigned long long start_time = 0;  // in clock ticks since boot: tells a reused pid apart
    std::string name;
};

// Every process /proc shows now.
std::vector<ProcessEntry> list_processes();

// Live processes (not zombies) that descend from `root` through their parents, or whose
// process group is one of `groups`.
std::vector<ProcessEntry> family_of(pid_t root, const std::vector<pid_t>& groups);

// Which of `earlier` are still alive (same pid and start time, not a zombie), plus any live
// process in one of `groups`. Waits up to `settle` for them to go first, since processes told to
// die with their parent (PR_SET_PDEATHSIG) are killed just after it exits, not with it.
std::vector<ProcessEntry> left_behind(const std::vector<ProcessEntry>& earlier,
                                      const std::vector<pid_t>& groups,
                                      std::chrono::milliseconds settle);

// "1234 fibserver (pgid 1234), ..." for a failure message.
std::string describe(const std::vector<ProcessEntry>& processes);

}  // namespace tp::test
