#include "process_tree.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tp::test {
namespace {

bool alive(const ProcessEntry& p) {
    return p.state != 'Z' && p.state != 'X';
}

bool in_groups(const ProcessEntry& p, const std::vector<pid_t>& groups) {
    return std::find(groups.begin(), groups.end(), p.pgid) != groups.end();
}

std::vector<ProcessEntry> still_there(const std::vector<ProcessEntry>& earlier,
                                      const std::vector<pid_t>& groups) {
    std::vector<ProcessEntry> found;
    for (const ProcessEntry& now : list_processes()) {
        if (!alive(now)) continue;
        const bool same_as_before =
            std::any_of(earlier.begin(), earlier.end(), [&](const ProcessEntry& e) {
                return e.pid == now.pid && e.start_time == now.start_time;
            });
        if (same_as_before || in_groups(now, groups)) found.push_back(now);
    }
    return found;
}

}  // namespace

std::vector<ProcessEntry> list_processes() {
    std::vector<ProcessEntry> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;  // gone meanwhile
        // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice num_threads itrealvalue starttime ...
        const auto open = line.find('(');
        const auto close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        ProcessEntry p;
        p.pid = static_cast<pid_t>(std::stol(name));
        p.name = line.substr(open + 1, close - open - 1);
        std::istringstream rest(line.substr(close + 2));
        rest >> p.state >> p.ppid >> p.pgid;
        std::string skip;
        for (int field = 6; field <= 21; ++field) rest >> skip;
        rest >> p.start_time;
        out.push_back(p);
    }
    return out;
}

std::vector<ProcessEntry> family_of(pid_t root, const std::vector<pid_t>& groups) {
    const std::vector<ProcessEntry> all = list_processes();
    auto parent_of = [&](pid_t pid) -> pid_t {
        for (const auto& p : all)
            if (p.pid == pid) return p.ppid;
        return 0;
    };
    std::vector<ProcessEntry> family;
    for (const ProcessEntry& p : all) {
        if (!alive(p) || p.pid == root) continue;
        bool descends = false;
        // Bounded: a parent chain is never longer than the number of processes.
        pid_t up = p.ppid;
        for (std::size_t hops = 0; up > 1 && hops < all.size(); ++hops) {
            if (up == root) {
                descends = true;
                break;
            }
            up = parent_of(up);
        }
        if (descends || in_groups(p, groups)) family.push_back(p);
    }
    return family;
}

std::vector<ProcessEntry> left_behind(const std::vector<ProcessEntry>& earlier,
                                      const std::vector<pid_t>& groups,
                                      std::chrono::milliseconds settle) {
    const auto deadline = std::chrono::steady_clock::now() + settle;
    for (;;) {
        std::vector<ProcessEntry> found = still_there(earlier, groups);
        if (found.empty() || std::chrono::steady_clock::now() >= deadline) return found;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string describe(const std::vector<ProcessEntry>& processes) {
    std::string out;
    for (const auto& p : processes) {
        if (!out.empty()) out += ", ";
        out += std::to_string(p.pid) + " " + p.name + " (state " + p.state + ", ppid " +
               std::to_string(p.ppid) + ", pgid " + std::to_string(p.pgid) + ")";
    }
    return out.empty() ? "none" : out;
}

}  // namespace tp::test
