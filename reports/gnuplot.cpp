#include "gnuplot.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace tp::report {
namespace {

// A file in the temporary folder, removed when this goes out of scope.
class TempFile {
  public:
    explicit TempFile(const std::string& stem) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / (stem + "-XXXXXX")).string();
        const int fd = ::mkstemp(pattern.data());
        if (fd < 0)
            throw GnuplotError(
                fmt::format("cannot create a temporary file: {}", std::strerror(errno)));
        ::close(fd);
        path_ = pattern;
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    const std::string& path() const { return path_; }
    std::string read() const {
        std::ifstream in(path_, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

  private:
    std::string path_;
};

std::string first_line(const std::string& text) {
    const auto end = text.find('\n');
    return text.substr(0, end == std::string::npos ? text.size() : end);
}

// Runs gnuplot with `args`, stdout and stderr to the given files; returns the exit status.
int run_gnuplot(const std::vector<std::string>& args, const TempFile& out, const TempFile& err) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.path().c_str(),
                                     O_WRONLY | O_TRUNC, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.path().c_str(),
                                     O_WRONLY | O_TRUNC, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw GnuplotError(fmt::format(
            "cannot run gnuplot: {} (scripts/setup installs it: apt-get install gnuplot-nox)",
            std::strerror(rc)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
        throw GnuplotError(fmt::format("gnuplot was killed by signal {}", WTERMSIG(status)));
    return WEXITSTATUS(status);
}

}  // namespace

std::string gnuplot_version() {
    TempFile out("tpreport-out"), err("tpreport-err");
    if (run_gnuplot({"gnuplot", "--version"}, out, err) != 0)
        throw GnuplotError(fmt::format("gnuplot --version failed: {}", first_line(err.read())));
    return first_line(out.read());
}

std::string render_svg(const std::string& script, int width, int height) {
    TempFile script_file("tpreport-plot"), out("tpreport-svg"), err("tpreport-err");
    {
        std::ofstream file(script_file.path());
        file << fmt::format("set terminal svg size {},{} font 'sans,11' background rgb 'white'\n",
                            width, height)
             << script << '\n';
        if (!file) throw GnuplotError("cannot write the gnuplot script to " + script_file.path());
    }
    const int status = run_gnuplot({"gnuplot", script_file.path()}, out, err);
    const std::string errors = err.read();
    // gnuplot exits 0 after some errors; an SVG that does not end is a failure all the same.
    std::string svg = out.read();
    if (status != 0 || svg.find("</svg>") == std::string::npos)
        throw GnuplotError(fmt::format("gnuplot failed (exit {}): {}", status,
                                       errors.empty() ? "no SVG drawn" : first_line(errors)));
    return svg;
}

std::string prefix_svg_ids(const std::string& svg, const std::string& prefix) {
    std::string out;
    out.reserve(svg.size() + 256);
    const std::vector<std::pair<std::string, std::string>> references = {
        {"id='", "id='" + prefix},
        {"id=\"", "id=\"" + prefix},
        {"href='#", "href='#" + prefix},
        {"href=\"#", "href=\"#" + prefix},
        {"url(#", "url(#" + prefix}};
    for (std::size_t i = 0; i < svg.size();) {
        bool replaced = false;
        for (const auto& [from, to] : references) {
            if (svg.compare(i, from.size(), from) == 0) {
                out += to;
                i += from.size();
                replaced = true;
                break;
            }
        }
        if (!replaced) out += svg[i++];
    }
    return out;
}

}  // namespace tp::report
