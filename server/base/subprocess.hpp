// The one fork/exec: a program started as a child, its output captured, ended and reaped by its
// own pid only. The embedded fibserver, scripts/bench's programs and the tests' program runners
// are all one of these, each with the small API that adds its meaning on top.
//
// Where output goes matters: a pipe gives lines as they come (a readiness line), but a child
// with much to say blocks once a pipe nobody reads is full, so what is only read at the end
// (stderr, a finished run's output) goes to a memory file instead.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "net.hpp"

namespace tp {

// How a reaped child ended.
struct ProcessExit {
    enum class How {
        exited,
        killed,
        lost,  // reaped by someone else (SIGCHLD ignored): it ended, how is not known
    };
    How how = How::exited;
    int number = 0;  // the exit status, or the signal that killed it

    static ProcessExit from_wait_status(int status);
    // The exit status, or 128 + the signal, as a shell reports it; -1 if lost.
    int exit_code() const;
    // "exited with status 1", "killed by signal 9 (Killed)".
    std::string description() const;
};

// Where a child's stdout or stderr goes.
enum class Capture {
    inherit,  // the parent's own
    pipe,     // read as it comes (read_line); only for stdout
    memory,   // a memory file, read whenever (output_text, tail)
};

enum class Stream { out, err };

// A resource limit set in the child before exec (soft and hard both), as `ulimit` would.
struct ResourceLimit {
    int resource = 0;  // RLIMIT_AS, RLIMIT_NOFILE ...
    rlim_t value = 0;
};

struct SubprocessOptions {
    bool stdin_pipe = false;  // else the parent's stdin; close_stdin() ends it
    Capture out = Capture::pipe;
    Capture err = Capture::memory;
    // Its own process group, as a shell runs a job: a terminal's Ctrl-C reaches the parent
    // alone, which then ends the child in order.
    bool own_process_group = false;
    // Sent to the child when the thread that started it exits (PR_SET_PDEATHSIG), so no child
    // outlives its parent; 0 for none. Start children from a thread that lives as long as
    // they should.
    int parent_death_signal = SIGKILL;
    std::vector<ResourceLimit> limits;
};

class Subprocess {
  public:
    // Starts argv[0] (a path) with `argv` and returns once it runs the program. The child starts
    // with no signal blocked and SIGPIPE at its default, whatever the parent blocked for its
    // signalfd. Throws std::system_error carrying errno if the child cannot be set up or the
    // program cannot be executed ("cannot run PATH: No such file or directory"). A fork
    // without exec elsewhere in the parent at that moment would hold the pipes open: start
    // children before such forks, as the probes do.
    explicit Subprocess(std::vector<std::string> argv, const SubprocessOptions& options = {});

    Subprocess(Subprocess&& other) noexcept;
    Subprocess& operator=(Subprocess&&) = delete;
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;
    ~Subprocess();  // kills (SIGKILL) and reaps a child still running

    pid_t pid() const { return pid_; }

    // True while it runs; reaps it (and remembers how it ended) once it has exited.
    bool running();
    // How it ended, once reaped.
    const std::optional<ProcessExit>& exit() const { return exit_; }
    // Its exit's description, or "still running".
    std::string how_it_ended() const;

    // Sends `signal` to the child, by its pid; nothing once it is reaped.
    void signal(int signal);
    // Waits up to `timeout` for it to exit and reaps it; std::nullopt if it still runs.
    std::optional<ProcessExit> wait_for(std::chrono::milliseconds timeout);
    // SIGKILL, then reaps it.
    ProcessExit kill();
    // SIGTERM, then SIGKILL if it has not exited after `grace`.
    ProcessExit stop(std::chrono::milliseconds grace);

    // The next line of a piped stdout, without its newline; std::nullopt once `timeout` passes
    // or at the end of its output (a last line without a newline is returned first).
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    // Closes the child's stdin pipe: programs that hold something until then let go.
    void close_stdin() { stdin_.reset(); }

    // Everything a memory-captured stream holds so far.
    std::string output_text(Stream stream) const;
    // Its last `max_bytes`, trailing newlines and spaces dropped: a failed child's last words.
    std::string tail(Stream stream, std::size_t max_bytes = 2048) const;

  private:
    std::string read_memory_file(Stream stream, std::size_t max_bytes) const;

    pid_t pid_ = -1;
    std::optional<ProcessExit> exit_;
    Fd stdin_;
    Fd out_;  // a pipe or a memory file, as asked
    bool out_is_memory_ = false;
    Fd err_;              // a memory file, if asked
    std::string unread_;  // read from the stdout pipe past the last line returned
};

}  // namespace tp
