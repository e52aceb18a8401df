// The programs scripts/bench runs and talks to, as Subprocesses: standard input and output are
// pipes (closing its input lets a program go), what it writes to stderr is kept for the error
// message when it fails, and it dies with the bench. Only processes started here are ever
// signalled, by their own pid.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace tp::bench {

// Starts `binary args...`. Throws std::system_error if it cannot.
Subprocess start_child(const std::string& binary, const std::vector<std::string>& args);

// The end of what it wrote to stderr, on one line, for an error message.
std::string last_words(const Subprocess& child);

// Waits up to `timeout` for it to exit, killing it (SIGKILL) then.
ProcessExit wait_or_kill(Subprocess& child, std::chrono::milliseconds timeout);

// Runs a program to its end; its standard output, or throws std::runtime_error carrying the
// program's name, how it ended and its last words if it fails or takes longer than `timeout`.
std::string run_to_end(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout);

}  // namespace tp::bench
