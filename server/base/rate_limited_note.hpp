// A runtime problem that may repeat thousands of times a second (accept failing with EMFILE,
// pthread_create failing with EAGAIN) is worth knowing about, but not as a line per failure:
// this prints the first at once, then at most one line a second with the counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tp {

class RateLimitedNote {
  public:
    explicit RateLimitedNote(
        std::string what, std::chrono::steady_clock::duration interval = std::chrono::seconds(1));

    // One more failure with this errno. Prints "fibserver: <what>: <reason> (N in all)" now and
    // then to stderr.
    void record(int error);
    // One more occurrence without an errno: "fibserver: <what> (N in all)".
    void record();
    std::uint64_t total() const { return total_; }

  private:
    void count(const std::string& reason);

    std::string what_;
    std::chrono::steady_clock::duration interval_;
    std::chrono::steady_clock::time_point last_printed_{};
    std::uint64_t total_ = 0;
    std::uint64_t unprinted_ = 0;
};

}  // namespace tp
