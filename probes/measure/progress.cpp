#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace tp {

TerminalProgress::TerminalProgress(bool quiet) : shown_(!quiet && ::isatty(STDERR_FILENO)) {}

TerminalProgress::~TerminalProgress() {
    if (shown_) std::fputs("\r\033[K", stderr);
}

ProgressFn TerminalProgress::fn() const {
    if (!shown_) return [](std::string_view) {};
    return [](std::string_view line) {
        fmt::print(stderr, "\r\033[K{}", line);
        std::fflush(stderr);
    };
}

}  // namespace tp
