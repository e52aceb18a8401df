#include "procfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <system_error>

namespace tp {
namespace {

// "VmRSS:	    1892 kB" -> 1892 for key "VmRSS".

// All of an open file, then closed; std::nullopt on a read error (a process that exits while
// it is read gives ESRCH: the same as absent).
std::optional<std::string> read_and_close(int fd) {
    std::string out;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace

std::optional<std::string> read_small_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    return read_and_close(fd);
}

std::optional<std::string> read_proc_record_at(int dir_fd, const std::string& relative) {
    const int fd = ::openat(dir_fd, relative.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    char buf[4096];
    ssize_t n;
    do n = ::read(fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        ::close(fd);
        return std::nullopt;
    }
    if (static_cast<std::size_t>(n) < sizeof buf) {
        ::close(fd);
        return std::string(buf, static_cast<std::size_t>(n));
    }
    // Longer than a record should be: the rest, the usual way.
    std::string out(buf, sizeof buf);
    const auto rest = read_and_close(fd);
    if (!rest) return std::nullopt;
    return out + *rest;
}

std::optional<std::uint64_t> read_number_file(const std::filesystem::path& path) {
    const auto text = read_small_file(path);
    if (!text) return std::nullopt;
    std::size_t i = 0;
    while (i < text->size() && std::isspace(static_cast<unsigned char>((*text)[i]))) ++i;
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text->data() + i, text->data() + text->size(), value);
    if (ec != std::errc()) return std::nullopt;
    return value;
}

std::optional<std::uint64_t> status_field(std::string_view text, std::string_view key) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = std::min(text.find('\n', pos), text.size());
        const std::string_view line = text.substr(pos, eol - pos);
        if (line.size() > key.size() && line.substr(0, key.size()) == key &&
            line[key.size()] == ':') {
            std::size_t i = key.size() + 1;
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
            std::uint64_t value = 0;
            const auto [ptr, ec] =
                std::from_chars(line.data() + i, line.data() + line.size(), value);
            if (ec != std::errc()) return std::nullopt;
            return value;
        }
        pos = eol + 1;
    }
    return std::nullopt;
}

std::optional<RlimitRow> parse_rlimit(const std::string& limits_text, std::string_view title) {
    const auto value = [](const std::string& word) -> std::optional<std::uint64_t> {
        if (word == "unlimited") return std::nullopt;
        std::uint64_t v = 0;
        std::from_chars(word.data(), word.data() + word.size(), v);
        return v;
    };
    std::istringstream in(limits_text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(title, 0) != 0) continue;
        std::istringstream rest(line.substr(title.size()));
        std::string soft, hard;
        rest >> soft >> hard;
        return RlimitRow{value(soft), value(hard)};
    }
    return std::nullopt;
}

std::optional<ProcessMemory> parse_process_status(const std::string& text) {
    ProcessMemory m;
    const auto vsz = status_field(text, "VmSize");
    const auto rss = status_field(text, "VmRSS");
    const auto threads = status_field(text, "Threads");
    // A zombie has Threads but no Vm* lines: it holds no memory worth reporting.
    if (!vsz || !rss || !threads) return std::nullopt;
    m.vsz_kib = *vsz;
    m.rss_kib = *rss;
    m.rss_anon_kib = status_field(text, "RssAnon").value_or(0);
    m.pte_kib = status_field(text, "VmPTE").value_or(0);
    m.threads = *threads;
    return m;
}

std::optional<ProcessIdentity> parse_process_identity(const std::string& text) {
    const auto uid = status_field(text, "Uid");
    if (!uid) return std::nullopt;
    ProcessIdentity id;
    id.real_uid = *uid;
    // CapEff is hexadecimal, which status_field() does not read.
    const auto at = text.find("\nCapEff:");
    if (at != std::string::npos) {
        std::size_t i = at + 8;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        std::from_chars(text.data() + i, text.data() + text.size(), id.effective_caps, 16);
    }
    return id;
}

std::optional<SystemMemory> parse_meminfo(const std::string& text) {
    SystemMemory m;
    const auto total = status_field(text, "MemTotal");
    if (!total) return std::nullopt;
    m.mem_total_kib = *total;
    // MemAvailable exists since Linux 3.14; without it MemFree is the honest lower bound.
    m.mem_available_kib =
        status_field(text, "MemAvailable").value_or(status_field(text, "MemFree").value_or(0));
    m.kernel_stack_kib = status_field(text, "KernelStack").value_or(0);
    m.committed_as_kib = status_field(text, "Committed_AS").value_or(0);
    m.commit_limit_kib = status_field(text, "CommitLimit").value_or(0);
    return m;
}

// "7f0c1a000000-7f0c1a800000 rw-p 00000000 00:00 0" per line.
std::optional<MappingTotals> parse_maps(const std::string& text) {
    MappingTotals t;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = std::min(text.find('\n', pos), text.size());
        const std::string_view line(text.data() + pos, eol - pos);
        pos = eol + 1;
        if (line.empty()) continue;
        std::uint64_t start = 0, end = 0;
        const auto dash = std::from_chars(line.data(), line.data() + line.size(), start, 16);
        if (dash.ec != std::errc() || *dash.ptr != '-') return std::nullopt;
        const auto space = std::from_chars(dash.ptr + 1, line.data() + line.size(), end, 16);
        const char* line_end = line.data() + line.size();
        if (space.ec != std::errc() || end < start || line_end - space.ptr < 5) return std::nullopt;
        const std::string_view perms(space.ptr + 1, 4);
        ++t.count;
        if (perms[1] == 'w' && perms[3] == 'p') t.writable_private_kib += (end - start) / 1024;
    }
    return t;
}

nlohmann::json to_json(const ProcessMemory& m) {
    return {{"vsz_kib", m.vsz_kib},
            {"rss_kib", m.rss_kib},
            {"rss_anon_kib", m.rss_anon_kib},
            {"pte_kib", m.pte_kib},
            {"threads", m.threads}};
}

void from_json(const nlohmann::json& j, ProcessMemory& m) {
    m.vsz_kib = j.at("vsz_kib");
    m.rss_kib = j.at("rss_kib");
    m.rss_anon_kib = j.at("rss_anon_kib");
    m.pte_kib = j.at("pte_kib");
    m.threads = j.at("threads");
}

nlohmann::json to_json(const SystemMemory& m) {
    return {{"mem_total_kib", m.mem_total_kib},
            {"mem_available_kib", m.mem_available_kib},
            {"kernel_stack_kib", m.kernel_stack_kib},
            {"committed_as_kib", m.committed_as_kib},
            {"commit_limit_kib", m.commit_limit_kib}};
}

void from_json(const nlohmann::json& j, SystemMemory& m) {
    m.mem_total_kib = j.at("mem_total_kib");
    m.mem_available_kib = j.at("mem_available_kib");
    m.kernel_stack_kib = j.at("kernel_stack_kib");
    m.committed_as_kib = j.at("committed_as_kib");
    m.commit_limit_kib = j.at("commit_limit_kib");
}

std::filesystem::path ProcFs::pid_dir(pid_t pid) const {
    return paths_.proc / std::to_string(pid);
}

std::optional<ProcessMemory> ProcFs::process(pid_t pid) const {
    const auto text = read_small_file(pid_dir(pid) / "status");
    if (!text) return std::nullopt;
    return parse_process_status(*text);
}

std::optional<SystemMemory> ProcFs::system() const {
    const auto text = read_small_file(paths_.proc / "meminfo");
    if (!text) return std::nullopt;
    return parse_meminfo(*text);
}

std::optional<std::uint64_t> ProcFs::map_count(pid_t pid) const {
    const auto text = read_small_file(pid_dir(pid) / "maps");
    if (!text) return std::nullopt;
    return static_cast<std::uint64_t>(std::count(text->begin(), text->end(), '\n'));
}

std::optional<MappingTotals> ProcFs::mappings(pid_t pid) const {
    const auto text = read_small_file(pid_dir(pid) / "maps");
    if (!text) return std::nullopt;
    return parse_maps(*text);
}

std::optional<std::uint64_t> ProcFs::open_fds(pid_t pid) const {
    std::error_code ec;
    std::filesystem::directory_iterator it(pid_dir(pid) / "fd", ec);
    if (ec) return std::nullopt;
    std::uint64_t n = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) return std::nullopt;
        ++n;
    }
    return n;
}

std::optional<std::uint64_t> ProcFs::tasks() const {
    const auto text = read_small_file(paths_.proc / "loadavg");
    if (!text) return std::nullopt;
    const auto slash = text->find('/');
    if (slash == std::string::npos) return std::nullopt;
    std::uint64_t value = 0;
    const auto [ptr, ec] =
        std::from_chars(text->data() + slash + 1, text->data() + text->size(), value);
    if (ec != std::errc()) return std::nullopt;
    return value;
}

std::optional<ProcessIdentity> ProcFs::identity(pid_t pid) const {
    const auto text = read_small_file(pid_dir(pid) / "status");
    if (!text) return std::nullopt;
    return parse_process_identity(*text);
}

std::uint64_t ProcFs::tasks_of_user(std::uint64_t uid) const {
    std::uint64_t tasks = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(paths_.proc, ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string name = it->path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto text = read_small_file(it->path() / "status");
        if (!text) continue;  // exited meanwhile
        const auto id = parse_process_identity(*text);
        const auto threads = status_field(*text, "Threads");
        if (id && threads && id->real_uid == uid) tasks += *threads;
    }
    return tasks;
}

std::optional<std::uint64_t> ProcFs::sysctl(const std::string& key) const {
    std::string relative = key;
    std::replace(relative.begin(), relative.end(), '.', '/');
    return read_number_file(paths_.proc / "sys" / relative);
}

}  // namespace tp
