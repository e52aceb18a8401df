// Running a measurement that may not survive itself, in a forked child. A recursion that runs
// into the guard page ends with SIGSEGV, and no handler can safely resume a thread whose stack
// is gone (stackprobe); a thread ramp that meets a kernel limit may end with the OOM killer,
// and its threads must all go when it is done (limitprobe). The child reports through memory
// it shares with the parent or through a pipe, and dies; the parent survives whatever happens
// in there and reads what the child left behind.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tp {

class StopSignal;

// One T in anonymous shared memory, mapped before the fork: what the child stores there is
// still there after the child has been killed mid-run. T holds std::atomic fields, written
// with relaxed stores: a store that has happened is in the shared page, whatever kills the
// child next, and the parent reads only after waitpid().
template <typename T>
class SharedMapping {
    static_assert(std::is_trivially_destructible_v<T>, "nothing runs T's destructor in a child");

  public:
    SharedMapping() {
        void* memory =
            ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED)
            throw std::system_error(errno, std::generic_category(), "mmap shared memory");
        value_ = new (memory) T{};
    }
    ~SharedMapping() { ::munmap(value_, sizeof(T)); }
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;

    T& operator*() const { return *value_; }
    T* operator->() const { return value_; }

  private:
    T* value_ = nullptr;
};

// The child's way to speak to the parent: up a pipe, then _exit. Either a report of what it
// measured, or why it could not measure.
class ChildChannel {
  public:
    // The exit code of a child that said why it failed.
    static constexpr int kFailedExit = 3;

    explicit ChildChannel(int fd) : fd_(fd) {}
    // Writes `text` whole and exits 0; 1 if it could not be written.
    [[noreturn]] void report(std::string_view text) const;
    // Writes `why` and exits kFailedExit.
    [[noreturn]] void fail(std::string_view why) const;
    // "what: strerror(error)", then fail().
    [[noreturn]] void fail(std::string_view what, int error) const;

  private:
    int fd_;
};

// How the child ended.
struct ChildOutcome {
    int signal = 0;          // the signal that killed it; 0 if it exited
    int exit_code = -1;      // when it exited
    bool timed_out = false;  // still running at the timeout, so killed with SIGKILL
    std::string message;     // what it said through ChildChannel before it ended

    bool killed_by(int sig) const { return !timed_out && signal == sig; }
    // It exited through ChildChannel::report: `message` is the report.
    bool reported() const { return !timed_out && signal == 0 && exit_code == 0; }
    // It exited through ChildChannel::fail (or threw): `message` says why.
    bool said_it_failed() const {
        return !timed_out && signal == 0 && exit_code == ChildChannel::kFailedExit;
    }
    // "SIGSEGV", "exit 0", "exit 3: pthread_create: Invalid argument", "timed out".
    std::string describe() const;
};

struct ChildRunOptions {
    // How long the parent waits before it kills the child; nullopt: as long as it runs.
    std::optional<std::chrono::milliseconds> timeout;
    // A stop asked of the parent is passed on to the child as SIGTERM (kill(1) or a service
    // manager signals the parent alone, not its process group), so that the child can report
    // what it reached; a child still running `stop_grace` later is killed.
    StopSignal* stop = nullptr;
    std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};
    // For a child meant to crash: no core file, and SIGSEGV and SIGBUS back to their default
    // action, whatever a sanitizer installed, so it ends with the signal the parent expects.
    bool crash_quietly = true;
    // What the parent keeps of what the child says; the rest is read and dropped.
    std::size_t max_message_bytes = 4096;
};

// Forks. The child runs `body` and exits 0 if it returns, kFailedExit if it throws (what() is
// its message). The parent reads what the child says until it ends, as `options` say, and
// reaps it. The parent must be single-threaded: the child may create threads of its own.
// Throws std::system_error if the pipe or the fork cannot be made.
ChildOutcome run_in_child(const std::function<void(const ChildChannel&)>& body,
                          const ChildRunOptions& options);

// A child meant to crash, waited for at most `timeout`.
ChildOutcome run_in_child(const std::function<void(const ChildChannel&)>& body,
                          std::chrono::milliseconds timeout);

}  // namespace tp
