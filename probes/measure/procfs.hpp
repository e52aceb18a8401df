// Readers for the kernel's own accounting: /proc/PID/status, /proc/meminfo, /proc/loadavg,
// /proc/sys and the pids cgroup. Every reader takes its roots from SystemPaths so the limit
// diagnosis can be tested on fixture trees that pretend to be a machine at its limits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tp {

struct SystemPaths {
    std::filesystem::path proc = "/proc";
    std::filesystem::path sys = "/sys";
};

// The whole file, or std::nullopt if it cannot be opened (a process that has exited).
// One open/read/close: cheap enough for the sampling loop.
std::optional<std::string> read_small_file(const std::filesystem::path& path);
// A /proc file the kernel writes whole in one go (task/TID/stat, task/TID/syscall: one
// single_open() show each), relative to an open directory. With 10,000 threads this is 20,000
// files a sample: opening relative to /proc/PID/task saves resolving the same prefix each
// time, and since such a file's one read returns all of it when it is shorter than the
// buffer, the read that would only see the end of the file is skipped (3 calls, not 4).
std::optional<std::string> read_proc_record_at(int dir_fd, const std::string& relative);
// The first number in a file such as /proc/sys/kernel/pid_max; nullopt if absent or "max".
std::optional<std::uint64_t> read_number_file(const std::filesystem::path& path);

// /proc/PID/status, sizes in KiB.
struct ProcessMemory {
    std::uint64_t vsz_kib = 0;       // VmSize: all mapped virtual memory
    std::uint64_t rss_kib = 0;       // VmRSS: resident
    std::uint64_t rss_anon_kib = 0;  // RssAnon: resident and anonymous (stacks, heap)
    std::uint64_t pte_kib = 0;       // VmPTE: page tables
    std::uint64_t threads = 0;       // Threads
};
std::optional<ProcessMemory> parse_process_status(const std::string& text);
// A "Key:\tN kB" (or "Key:\tN") line's number in a status-like file; nothing when absent.
std::optional<std::uint64_t> status_field(std::string_view text, std::string_view key);

// One row of /proc/PID/limits: "Max open files   20000   20000   files".
struct RlimitRow {
    std::optional<std::uint64_t> soft;  // nullopt = unlimited
    std::optional<std::uint64_t> hard;
};
// The row whose title is `title` ("Max stack size"); nothing when there is none.
std::optional<RlimitRow> parse_rlimit(const std::string& limits_text, std::string_view title);
nlohmann::json to_json(const ProcessMemory& m);
void from_json(const nlohmann::json& j, ProcessMemory& m);

// Who a process is, as far as per-user limits go (/proc/PID/status).
struct ProcessIdentity {
    std::uint64_t real_uid = 0;        // RLIMIT_NPROC counts this user's tasks
    std::uint64_t effective_caps = 0;  // CapEff: CAP_SYS_RESOURCE/CAP_SYS_ADMIN exempt NPROC
};
std::optional<ProcessIdentity> parse_process_identity(const std::string& text);

// /proc/meminfo, KiB.
struct SystemMemory {
    std::uint64_t mem_total_kib = 0;
    std::uint64_t mem_available_kib = 0;
    std::uint64_t kernel_stack_kib = 0;
    std::uint64_t committed_as_kib = 0;
    std::uint64_t commit_limit_kib = 0;
};
std::optional<SystemMemory> parse_meminfo(const std::string& text);
nlohmann::json to_json(const SystemMemory& m);
void from_json(const nlohmann::json& j, SystemMemory& m);

// What /proc/PID/maps adds up to: the mappings vm.max_map_count counts, and the private
// writable ones, which the kernel's commit charge counts (a PROT_NONE guard mapping is in the
// first and not the second; a guard installed with MADV_GUARD_INSTALL is inside its stack's).
struct MappingTotals {
    std::uint64_t count = 0;
    std::uint64_t writable_private_kib = 0;
};
std::optional<MappingTotals> parse_maps(const std::string& text);

class ProcFs {
  public:
    explicit ProcFs(SystemPaths paths = {}) : paths_(std::move(paths)) {}

    const SystemPaths& paths() const { return paths_; }

    // std::nullopt once the process has exited.
    std::optional<ProcessMemory> process(pid_t pid) const;
    // std::nullopt if /proc/meminfo cannot be read (no descriptor left) or has no MemTotal.
    std::optional<SystemMemory> system() const;
    // Lines of /proc/PID/maps: the mappings vm.max_map_count counts.
    std::optional<std::uint64_t> map_count(pid_t pid) const;
    std::optional<MappingTotals> mappings(pid_t pid) const;
    // Entries of /proc/PID/fd: the descriptors RLIMIT_NOFILE counts.
    std::optional<std::uint64_t> open_fds(pid_t pid) const;
    // Scheduling entities (threads) on the machine: the 4th field of /proc/loadavg, "1/81".
    std::optional<std::uint64_t> tasks() const;
    std::optional<ProcessIdentity> identity(pid_t pid) const;
    // Threads of every process whose real uid is `uid`: what RLIMIT_NPROC counts. Reads
    // every /proc/PID/status, so it is for a diagnosis, not for the sampling loop.
    std::uint64_t tasks_of_user(std::uint64_t uid) const;
    // /proc/sys/<key> with dots or slashes: "kernel.pid_max".
    std::optional<std::uint64_t> sysctl(const std::string& key) const;

  private:
    std::filesystem::path pid_dir(pid_t pid) const;

    SystemPaths paths_;
};

}  // namespace tp
