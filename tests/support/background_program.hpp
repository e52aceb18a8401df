// One of our programs from build/bin, started in the background so that a test can act on it
// mid-run (signal it, kill its server) and then collect it like run_program does. It runs in a
// process group of its own, as a shell runs a job, so that a terminal's Ctrl-C can be imitated
// by signalling the group.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "run_program.hpp"
#include "subprocess.hpp"

namespace tp::test {

class BackgroundProgram {
  public:
    // Killed (SIGKILL, by pid) when it goes, if the test did not finish() it.
    BackgroundProgram(const std::string& name, const std::vector<std::string>& args);

    pid_t pid() const { return process_.pid(); }
    // Waits up to `timeout` for it to exit, SIGKILLs it if it does not (timed_out), and returns
    // its exit status and what it wrote.
    ProgramRun finish(std::chrono::milliseconds timeout);

  private:
    Subprocess process_;
};

}  // namespace tp::test
