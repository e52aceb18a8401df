// Running a measurement that is meant to crash. A recursion that runs into the guard page ends
// with SIGSEGV, and no handler can safely resume a thread whose stack is gone; so each run
// happens in a forked child, reports through memory it shares with the parent, and dies. The
// parent survives whatever happens in there and reads what the child left behind.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tp {

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

// The child's way to say why it could not measure: one line up a pipe, then _exit.
class ChildChannel {
  public:
    explicit ChildChannel(int fd) : fd_(fd) {}
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
    // "SIGSEGV", "exit 0", "exit 3: pthread_create: Invalid argument", "timed out".
    std::string describe() const;
};

// Forks. The child makes its crash quiet and cheap (no core file, SIGSEGV and SIGBUS back to
// their default action, whatever a sanitizer installed), runs `body`, and exits 0 if it
// returns, 3 if it throws. The parent waits at most `timeout`, then kills it.
// The parent must be single-threaded: the child may create threads of its own.
// Throws std::system_error if the pipe or the fork cannot be made.
ChildOutcome run_in_child(const std::function<void(const ChildChannel&)>& body,
                          std::chrono::milliseconds timeout);

}  // namespace tp
