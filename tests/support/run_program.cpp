#include "run_program.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tp::test {

std::string program(const std::string& name) {
    return std::string(TP_BIN_DIR) + "/" + name;
}

SubprocessOptions program_options(const RunOptions& options) {
    SubprocessOptions o;
    o.out = Capture::memory;
    o.err = Capture::memory;
    if (options.address_space_limit) o.limits.push_back({RLIMIT_AS, *options.address_space_limit});
    if (options.descriptor_limit) o.limits.push_back({RLIMIT_NOFILE, *options.descriptor_limit});
    if (options.process_limit) o.limits.push_back({RLIMIT_NPROC, *options.process_limit});
    return o;
}

ProgramRun finish(Subprocess& process, std::chrono::milliseconds timeout) {
    ProgramRun run;
    std::optional<ProcessExit> exit = process.wait_for(timeout);
    run.timed_out = !exit;
    if (!exit) exit = process.kill();
    run.exit_code = exit->exit_code();
    run.out = process.output_text(Stream::out);
    run.err = process.output_text(Stream::err);
    return run;
}

Subprocess start_program(const std::string& name, const std::vector<std::string>& args,
                         const SubprocessOptions& options) {
    std::vector<std::string> argv{program(name)};
    argv.insert(argv.end(), args.begin(), args.end());
    return Subprocess(std::move(argv), options);
}

ProgramRun run_program(const std::string& name, const std::vector<std::string>& args,
                       const RunOptions& options) {
    std::vector<std::string> argv = options.run_under;
    argv.push_back(program(name));
    argv.insert(argv.end(), args.begin(), args.end());
    Subprocess process(std::move(argv), program_options(options));
    return finish(process, options.timeout);
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != 'Z') out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

}  // namespace tp::test
