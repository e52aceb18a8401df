#include "background_program.hpp"

namespace tp::test {
namespace {

SubprocessOptions in_its_own_group() {
    SubprocessOptions options = program_options({});
    options.own_process_group = true;
    return options;
}

}  // namespace

BackgroundProgram::BackgroundProgram(const std::string& name, const std::vector<std::string>& args)
    : process_(start_program(name, args, in_its_own_group())) {}

ProgramRun BackgroundProgram::finish(std::chrono::milliseconds timeout) {
    return tp::test::finish(process_, timeout);
}

}  // namespace tp::test
