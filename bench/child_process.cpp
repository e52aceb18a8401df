#include "child_process.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace tp::bench {
namespace {

constexpr std::size_t kLastWordsBytes = 400;

std::vector<std::string> command(const std::string& binary, const std::vector<std::string>& args) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

}  // namespace

Subprocess start_child(const std::string& binary, const std::vector<std::string>& args) {
    SubprocessOptions options;
    options.stdin_pipe = true;
    return Subprocess(command(binary, args), options);
}

std::string last_words(const Subprocess& child) {
    std::string text = child.tail(Stream::err, kLastWordsBytes);
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

ProcessExit wait_or_kill(Subprocess& child, std::chrono::milliseconds timeout) {
    if (const auto exit = child.wait_for(timeout)) return *exit;
    return child.kill();
}

std::string run_to_end(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout) {
    SubprocessOptions options;
    options.stdin_pipe = true;
    options.out = Capture::memory;  // read once it has ended
    Subprocess child(command(binary, args), options);
    child.close_stdin();  // nothing to read: a program that reads input sees its end at once
    const std::optional<ProcessExit> exit = child.wait_for(timeout);
    if (exit && exit->exit_code() == 0) return child.output_text(Stream::out);
    if (!exit) child.kill();
    const std::string name = std::filesystem::path(binary).filename();
    const std::string how = exit ? exit->description()
                                 : fmt::format("did not finish within {} s",
                                               static_cast<double>(timeout.count()) / 1000);
    const std::string said = last_words(child);
    throw std::runtime_error(fmt::format("{} {}{}", name, how, said.empty() ? "" : ": " + said));
}

}  // namespace tp::bench
