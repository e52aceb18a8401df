// A results file written whole or not at all. The file is created (as a temporary beside its
// final name) before a long run starts, so an unwritable path fails in the first second rather
// than after the measurement; commit() writes and renames it into place.
#pragma once

#include <filesystem>
#include <string>

#include "net.hpp"

namespace tp {

class OutputFile {
  public:
    // Throws std::system_error naming the path if it cannot be created.
    explicit OutputFile(std::filesystem::path path);
    ~OutputFile();  // removes the temporary if never committed
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    OutputFile(OutputFile&&) noexcept;
    OutputFile& operator=(OutputFile&&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // Writes `content`, flushes it to disk and renames it into place. Throws on failure.
    void commit(const std::string& content);

  private:
    std::filesystem::path path_;
    std::filesystem::path temp_;
    Fd fd_;
};

}  // namespace tp
