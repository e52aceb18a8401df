#include "output_file.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace tp {

OutputFile::OutputFile(std::filesystem::path path) : path_(std::move(path)) {
    std::string templ = path_.string() + ".tmp.XXXXXX";
    const int fd = ::mkstemp(templ.data());
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("cannot write {}", path_.string()));
    ::fchmod(fd, 0644);
    fd_.reset(fd);
    temp_ = templ;
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : path_(std::move(other.path_)), temp_(std::move(other.temp_)), fd_(std::move(other.fd_)) {
    other.temp_.clear();
}

OutputFile::~OutputFile() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::commit(const std::string& content) {
    const auto fail = [&](const char* what) {
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("{} {}", what, path_.string()));
    };
    if (!write_all(fd_.get(), content)) fail("cannot write");
    if (::fsync(fd_.get()) != 0) fail("cannot flush");
    fd_.reset();
    if (::rename(temp_.c_str(), path_.c_str()) != 0) fail("cannot rename into");
    temp_.clear();
}

}  // namespace tp
