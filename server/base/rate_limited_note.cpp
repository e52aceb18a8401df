#include "rate_limited_note.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <system_error>
#include <utility>

namespace tp {

RateLimitedNote::RateLimitedNote(std::string what, std::chrono::steady_clock::duration interval)
    : what_(std::move(what)), interval_(interval) {}

void RateLimitedNote::record(int error) {
    count(": " + std::generic_category().message(error));
}

void RateLimitedNote::record() {
    count("");
}

void RateLimitedNote::count(const std::string& reason) {
    ++total_;
    ++unprinted_;
    const auto now = std::chrono::steady_clock::now();
    if (total_ > 1 && now - last_printed_ < interval_) return;
    const std::string since =
        unprinted_ == total_ ? "" : fmt::format(", {} since the last note", unprinted_);
    fmt::print(stderr, "fibserver: {}{} ({} in all{})\n", what_, reason, total_, since);
    std::fflush(stderr);
    last_printed_ = now;
    unprinted_ = 0;
}

}  // namespace tp
