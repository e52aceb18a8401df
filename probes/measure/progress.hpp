// Progress for a person watching: one line on stderr, rewritten in place, and only when
// stderr is a terminal (a pipe or a CI log gets none of it, as in hyperfine).
#pragma once

#include <functional>
#include <string_view>

namespace tp {

// What a run calls with a line of progress; a few times a second at most.
using ProgressFn = std::function<void(std::string_view)>;

class TerminalProgress {
  public:
    explicit TerminalProgress(bool quiet);
    ~TerminalProgress();  // clears the line it left
    TerminalProgress(const TerminalProgress&) = delete;
    TerminalProgress& operator=(const TerminalProgress&) = delete;

    ProgressFn fn() const;

  private:
    bool shown_;
};

}  // namespace tp
