// A program scripts/bench runs and talks to: its standard input and output are pipes, what it
// writes to stderr is kept (for the error message when it fails), it dies with the bench
// (PR_SET_PDEATHSIG), and it is killed and reaped if it outlives its welcome. Only processes
// started here are ever signalled, by their own pid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "net.hpp"

namespace tp::bench {

class ChildProcess {
  public:
    // Starts `binary args...`. Throws std::system_error if it cannot.
    static ChildProcess start(const std::string& binary, const std::vector<std::string>& args);

    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&&) = delete;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();  // kills and reaps a child still running

    pid_t pid() const { return pid_; }
    // The next line of its standard output, without the newline; std::nullopt at end of output
    // or when `timeout` passes first.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    // Closes its standard input: programs that hold something until then let go.
    void close_stdin() { stdin_.reset(); }
    // Waits for it to exit, killing it (SIGKILL) once `timeout` has passed; its exit code, or
    // 128 + the signal that ended it.
    int wait(std::chrono::milliseconds timeout);
    // The last `bytes` of what it wrote to stderr, on one line.
    std::string stderr_tail(std::size_t bytes = 400) const;

  private:
    ChildProcess() = default;

    pid_t pid_ = -1;
    bool reaped_ = true;
    Fd stdin_;
    Fd stdout_;
    Fd stderr_;             // a memory file
    std::string buffered_;  // read from stdout past the last line returned
};

// Runs a program to its end; its standard output, or throws std::runtime_error carrying the
// program's name, exit code and last words if it fails or takes longer than `timeout`.
std::string run_to_end(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout);

}  // namespace tp::bench
