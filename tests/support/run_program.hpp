// Runs one of our programs from build/bin as a child, the way a user would, and captures what
// it says (in memory files: a program with much to say never blocks on an unread pipe).
// Bounded in time: a program that hangs is killed and the test fails instead.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace tp::test {

struct ProgramRun {
    int exit_code = -1;  // 128 + signal if killed by one
    bool timed_out = false;
    std::string out;
    std::string err;
};

struct RunOptions {
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    std::optional<rlim_t> address_space_limit;  // RLIMIT_AS for the child, in bytes
    std::optional<rlim_t> descriptor_limit;     // RLIMIT_NOFILE for the child
    std::optional<rlim_t> process_limit;        // RLIMIT_NPROC for the child
    // A command the program runs under: {"setpriv", "--reuid=65534", ...}; it execs the rest.
    std::vector<std::string> run_under;
};

// Options that only bound the run's time.
inline RunOptions within(std::chrono::milliseconds timeout) {
    RunOptions options;
    options.timeout = timeout;
    return options;
}

// The path of a program in build/bin.
std::string program(const std::string& name);

ProgramRun run_program(const std::string& name, const std::vector<std::string>& args,
                       const RunOptions& options = {});

// The pieces run_program is made of, for runners that act on a program mid-run: how it is
// started (stdout and stderr in memory files, the limits asked for), and its end, waited for
// up to `timeout` and forced with SIGKILL after it (timed_out).
SubprocessOptions program_options(const RunOptions& options);
Subprocess start_program(const std::string& name, const std::vector<std::string>& args,
                         const SubprocessOptions& options);
ProgramRun finish(Subprocess& process, std::chrono::milliseconds timeout);

// Children of `pid` still alive (from /proc/*/stat), to prove nothing was left behind.
std::vector<pid_t> children_of(pid_t pid);

}  // namespace tp::test
