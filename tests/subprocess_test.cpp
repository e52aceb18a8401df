// The one fork/exec, on /bin/sh and /bin/sleep: exit codes, a line read as it comes, the last
// words kept, a kill that reaps, timeouts that hold. No network.
#include "subprocess.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tp::Capture;
using tp::ProcessExit;
using tp::Stream;
using tp::Subprocess;
using tp::SubprocessOptions;

Subprocess shell(const std::string& script, SubprocessOptions options = {}) {
    return Subprocess({"/bin/sh", "-c", script}, options);
}

SubprocessOptions output_in_memory() {
    SubprocessOptions options;
    options.out = Capture::memory;
    return options;
}

// A reaped pid is gone: signal 0 finds no such process (the kernel does not reuse a pid at once).
bool gone(pid_t pid) {
    return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// The hexadecimal mask on `field`'s line of /proc/PID/status ("SigBlk", "SigIgn").
unsigned long long status_mask(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0)
            return std::stoull(line.substr(field.size() + 1), nullptr, 16);
    FAIL("no " << field << " in /proc/" << pid << "/status");
    return 0;
}

}  // namespace

TEST_CASE("subprocess: the exit status, and how it is described", "[subprocess]") {
    Subprocess child = shell("exit 3");
    const auto exit = child.wait_for(10s);
    REQUIRE(exit);
    CHECK(exit->how == ProcessExit::How::exited);
    CHECK(exit->exit_code() == 3);
    CHECK(exit->description() == "exited with status 3");
    CHECK(child.how_it_ended() == "exited with status 3");
    CHECK_FALSE(child.running());
    CHECK(gone(child.pid()));
}

TEST_CASE("subprocess: stdout lines as they come, the last one without its newline",
          "[subprocess]") {
    // The line arrives while the child still runs: read_line does not wait for its end.
    Subprocess child = shell("printf 'ready\\nsecond\\nlast'; exec sleep 30");
    const auto t0 = Clock::now();
    CHECK(child.read_line(10s) == "ready");
    CHECK(child.read_line(10s) == "second");
    CHECK(Clock::now() - t0 < 10s);
    CHECK(child.running());
    // "last" has no newline while the output stays open: not a line yet.
    CHECK_FALSE(child.read_line(100ms).has_value());
    child.kill();
    // Once the output ends, what is left is the last line, then nothing.
    CHECK(child.read_line(10s) == "last");
    CHECK_FALSE(child.read_line(10s).has_value());
}

TEST_CASE("subprocess: a line or an end that does not come times out, at its timeout",
          "[subprocess]") {
    const bool reading = GENERATE(true, false);
    Subprocess child({"/bin/sleep", "30"});
    const auto t0 = Clock::now();
    if (reading)
        CHECK_FALSE(child.read_line(200ms).has_value());
    else
        CHECK_FALSE(child.wait_for(200ms).has_value());
    const auto waited = Clock::now() - t0;
    CHECK(waited >= 200ms);
    CHECK(waited < 5s);
    CHECK(child.running());
    CHECK(child.how_it_ended() == "still running");
}

TEST_CASE("subprocess: stderr's last words are kept after it ends", "[subprocess]") {
    Subprocess child = shell("echo first >&2; echo 'last words' >&2; exit 1");
    REQUIRE(child.wait_for(10s));
    CHECK(child.tail(Stream::err) == "first\nlast words");
    CHECK(child.tail(Stream::err, 11) == "last words");  // the trailing newline is the 11th
    CHECK(child.output_text(Stream::err) == "first\nlast words\n");
}

TEST_CASE("subprocess: stdout in memory holds everything, however much", "[subprocess]") {
    // More than a pipe holds (64 KiB): a pipe nobody reads would block the child.
    Subprocess child = shell("i=0; while [ $i -lt 20000 ]; do echo 0123456789; i=$((i+1)); done",
                             output_in_memory());
    REQUIRE(child.wait_for(30s));
    CHECK(child.exit()->exit_code() == 0);
    CHECK(child.output_text(Stream::out).size() == 20000u * 11);
    CHECK_FALSE(child.read_line(10ms).has_value());  // not a pipe
}

TEST_CASE("subprocess: kill reaps it, by its pid", "[subprocess]") {
    Subprocess child({"/bin/sleep", "30"});
    const auto t0 = Clock::now();
    const ProcessExit exit = child.kill();
    CHECK(Clock::now() - t0 < 5s);
    CHECK(exit.how == ProcessExit::How::killed);
    CHECK(exit.number == SIGKILL);
    CHECK(exit.exit_code() == 128 + SIGKILL);
    CHECK_THAT(exit.description(), Catch::StartsWith("killed by signal 9"));
    CHECK(gone(child.pid()));
    child.signal(SIGTERM);  // reaped: nothing is sent to a pid that may be someone else's now
    CHECK(child.kill().exit_code() == 128 + SIGKILL);
}

TEST_CASE("subprocess: stop sends SIGTERM, then SIGKILL after the grace", "[subprocess]") {
    SECTION("SIGTERM is enough") {
        Subprocess child({"/bin/sleep", "30"});
        CHECK(child.stop(10s).number == SIGTERM);
    }
    SECTION("SIGTERM ignored: SIGKILL after the grace") {
        // The shell's builtin read holds it without a second process to leave behind.
        SubprocessOptions options;
        options.stdin_pipe = true;
        Subprocess child = shell("trap '' TERM; echo ready; read line", options);
        REQUIRE(child.read_line(10s) == "ready");
        const auto t0 = Clock::now();
        CHECK(child.stop(300ms).number == SIGKILL);
        CHECK(Clock::now() - t0 >= 300ms);
    }
}

TEST_CASE("subprocess: closing stdin lets a reader go", "[subprocess]") {
    SubprocessOptions options;
    options.stdin_pipe = true;
    Subprocess child({"/bin/cat"}, options);
    CHECK_FALSE(child.wait_for(100ms).has_value());
    child.close_stdin();
    const auto exit = child.wait_for(10s);
    REQUIRE(exit);
    CHECK(exit->exit_code() == 0);
}

TEST_CASE("subprocess: a program that cannot run is a system_error with its errno",
          "[subprocess]") {
    try {
        Subprocess child({"/nonexistent/program"});
        FAIL("it started");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), Catch::Contains("cannot run /nonexistent/program"));
    }
}

TEST_CASE("subprocess: resource limits, its own process group", "[subprocess]") {
    SubprocessOptions options = output_in_memory();
    options.limits.push_back({RLIMIT_NOFILE, 37});
    options.own_process_group = true;
    Subprocess child = shell("ulimit -n", options);
    CHECK(::getpgid(child.pid()) == child.pid());
    REQUIRE(child.wait_for(10s));
    CHECK(child.output_text(Stream::out) == "37\n");

    Subprocess same_group({"/bin/sleep", "30"});
    CHECK(::getpgid(same_group.pid()) == ::getpgrp());
}

TEST_CASE("subprocess: no signal blocked or SIGPIPE ignored is passed on", "[subprocess]") {
    sigset_t usr1, before;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr1, &before) == 0);
    struct sigaction ignore {
    }, previous{};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGPIPE, &ignore, &previous) == 0);
    Subprocess child({"/bin/sleep", "30"});
    ::sigaction(SIGPIPE, &previous, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);

    CHECK(status_mask(child.pid(), "SigBlk") == 0);
    CHECK((status_mask(child.pid(), "SigIgn") & (1ull << (SIGPIPE - 1))) == 0);
}

TEST_CASE("subprocess: it dies with the thread that started it", "[subprocess]") {
    // PR_SET_PDEATHSIG fires when the starting thread ends; a thread stands in for the parent.
    const int signal = GENERATE(SIGKILL, 0);
    SubprocessOptions options;
    options.parent_death_signal = signal;
    std::optional<Subprocess> child;
    std::thread([&] { child.emplace(Subprocess({"/bin/sleep", "30"}, options)); }).join();
    REQUIRE(child);
    if (signal == SIGKILL) {
        const auto exit = child->wait_for(10s);
        REQUIRE(exit);
        CHECK(exit->number == SIGKILL);
    } else {
        CHECK_FALSE(child->wait_for(200ms).has_value());
    }
}

TEST_CASE("subprocess: a child the kernel reaped (SIGCHLD ignored) has ended, how is lost",
          "[subprocess]") {
    struct sigaction ignore {
    }, previous{};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGCHLD, &ignore, &previous) == 0);
    std::optional<ProcessExit> exit;
    {
        Subprocess child = shell("exit 3");
        exit = child.wait_for(10s);
    }
    ::sigaction(SIGCHLD, &previous, nullptr);
    REQUIRE(exit);
    CHECK(exit->how == ProcessExit::How::lost);
    CHECK(exit->exit_code() == -1);
}

TEST_CASE("subprocess: a child still running when it goes is killed and reaped", "[subprocess]") {
    pid_t pid = -1;
    {
        Subprocess child({"/bin/sleep", "30"});
        pid = child.pid();
        Subprocess moved(std::move(child));  // the moved-from one owns nothing
        CHECK(moved.pid() == pid);
        CHECK(moved.running());
    }
    CHECK(gone(pid));
}
