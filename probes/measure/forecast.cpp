#include "forecast.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "child_run.hpp"
#include "connection_threads.hpp"
#include "json_fields.hpp"
#include "thread_stack.hpp"

namespace tp {
namespace {

using nlohmann::json;

// How long the sample's threads get to park (or connect) before they are measured.
constexpr auto kSampleSettle = std::chrono::seconds(20);
// The sample's first threads, made before the first snapshot: what only the first threads pay
// (the thread list's first allocation, glibc's first-thread set-up, the heap pages those
// touch) is not what one more thread costs. With 64 in all, 8 leave 56 to measure.
constexpr std::uint64_t kWarmThreads = 8;

// The slope of one counter per thread added; a counter that went down (another process freed
// kernel stacks meanwhile) reads as zero, not as a thread that gives memory back.
double slope(double before, double after, double threads) {
    return std::max(0.0, (after - before) / threads);
}

// Which measured cost each limit pays, by the limit's name (limits.hpp names them).
double cost_for(const std::string& limit, const ThreadCostSample& c) {
    if (limit == "vm.max_map_count") return c.mappings;
    if (limit == "RLIMIT_AS") return c.vsz_kib;
    if (limit == "commit limit") return c.commit_kib;
    if (limit == "memory" || limit == "memory cgroup") return c.memory_kib();
    if (limit == "RLIMIT_NOFILE" || limit == "ephemeral ports") return c.descriptors;
    return c.tasks;  // threads-max, pid_max, RLIMIT_NPROC, pids cgroup
}

}  // namespace

CostSnapshot take_cost_snapshot(const ProcFs& fs, pid_t pid,
                                const std::vector<pid_t>& task_owners) {
    CostSnapshot s{fs.process(pid),  fs.mappings(pid), fs.system(),
                   fs.open_fds(pid), fs.tasks(),       {}};
    if (!task_owners.empty()) {
        std::uint64_t tasks = 0;
        for (const pid_t owner : task_owners) {
            const auto p = owner == pid ? s.process : fs.process(owner);
            if (!p) return s;  // gone: not known after all
            tasks += p->threads;
        }
        s.own_tasks = tasks;
    }
    return s;
}

std::vector<pid_t> task_owners(pid_t pid, bool has_server, std::optional<pid_t> server_pid) {
    if (has_server && !server_pid) return {};  // its threads: only the machine's count sees them
    std::vector<pid_t> owners{pid};
    if (server_pid) owners.push_back(*server_pid);
    return owners;
}

ThreadCostSample cost_between(const CostSnapshot& before, const CostSnapshot& after) {
    ThreadCostSample c;
    if (!before.process || !after.process || after.process->threads <= before.process->threads)
        return c;
    c.threads = after.process->threads - before.process->threads;
    const auto n = static_cast<double>(c.threads);
    const auto d = [n](auto b, auto a) {
        return slope(static_cast<double>(b), static_cast<double>(a), n);
    };
    c.vsz_kib = d(before.process->vsz_kib, after.process->vsz_kib);
    c.rss_kib = d(before.process->rss_kib, after.process->rss_kib);
    if (before.mappings && after.mappings) {
        c.mappings = d(before.mappings->count, after.mappings->count);
        c.commit_kib =
            d(before.mappings->writable_private_kib, after.mappings->writable_private_kib);
    }
    if (before.system && after.system)
        c.kernel_stack_kib = d(before.system->kernel_stack_kib, after.system->kernel_stack_kib);
    if (before.descriptors && after.descriptors)
        c.descriptors = d(*before.descriptors, *after.descriptors);
    // A task is a whole thing. Counted on the processes that make them where those are known;
    // else on the machine, where other processes starting or ending threads meanwhile move the
    // count (a busy machine's tests made it 2 a thread where it was 1). At least the thread.
    if (before.own_tasks && after.own_tasks)
        c.tasks = std::max(1.0, std::round(d(*before.own_tasks, *after.own_tasks)));
    else if (before.machine_tasks && after.machine_tasks)
        c.tasks = std::max(1.0, std::round(d(*before.machine_tasks, *after.machine_tasks)));
    return c;
}

std::string ThreadCostSample::guard_layout() const {
    if (threads == 0) return "not measured";
    // Adjacent stacks with in-mapping guards may merge: fewer than one mapping per thread.
    return mappings >= 1.5 ? "PROT_NONE mapping below each stack (two mappings a thread)"
                           : "inside the stack mapping (MADV_GUARD_INSTALL: one mapping a thread)";
}

json to_json(const ThreadCostSample& c) {
    return {{"stack_bytes", c.stack_bytes},
            {"default_stack", c.default_stack},
            {"holds_connection", c.holds_connection},
            {"sample_threads", c.threads},
            {"tasks", rounded(c.tasks, 1000)},
            {"mappings", rounded(c.mappings, 1000)},
            {"vsz_kib", rounded(c.vsz_kib, 100)},
            {"commit_kib", rounded(c.commit_kib, 100)},
            {"rss_kib", rounded(c.rss_kib, 100)},
            {"kernel_stack_kib", rounded(c.kernel_stack_kib, 100)},
            {"descriptors", rounded(c.descriptors, 1000)},
            {"guard", c.guard_layout()}};
}

void from_json(const json& j, ThreadCostSample& c) {
    c.stack_bytes = j.at("stack_bytes");
    c.default_stack = j.at("default_stack");
    c.holds_connection = j.at("holds_connection");
    c.threads = j.at("sample_threads");
    c.tasks = j.at("tasks");
    c.mappings = j.at("mappings");
    c.vsz_kib = j.at("vsz_kib");
    c.commit_kib = j.at("commit_kib");
    c.rss_kib = j.at("rss_kib");
    c.kernel_stack_kib = j.at("kernel_stack_kib");
    c.descriptors = j.at("descriptors");
}

ThreadCostSample sample_thread_cost(std::optional<std::uint64_t> stack,
                                    const std::optional<Endpoint>& server,
                                    std::optional<pid_t> server_pid, std::uint64_t threads) {
    ChildRunOptions options;
    options.crash_quietly = false;
    options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kSampleSettle * 2);
    options.max_message_bytes = 1 << 16;
    const ChildOutcome outcome = run_in_child(
        [&](const ChildChannel& channel) {
            const ProcFs fs;
            const pid_t self = ::getpid();
            ConnectionThreadConfig config;
            config.server = server;
            config.request_n = 1;
            config.stack = stack;
            ConnectionThreads sample(config);
            // Too small a sample to spare any: every thread is measured.
            const std::uint64_t warm = threads >= 4 * kWarmThreads ? kWarmThreads : 0;
            for (std::uint64_t i = 0; i < warm; ++i)
                if (sample.spawn_one() != 0) break;
            sample.wait_settled(kSampleSettle);
            const auto owners = task_owners(self, server.has_value(), server_pid);
            const CostSnapshot before = take_cost_snapshot(fs, self, owners);
            for (std::uint64_t i = warm; i < threads; ++i)
                if (sample.spawn_one() != 0) break;
            sample.wait_settled(kSampleSettle);
            if (sample.failed() > 0)
                channel.fail(fmt::format("{} of the sample's {} threads could not connect",
                                         sample.failed(), sample.spawned()));
            ThreadCostSample c = cost_between(before, take_cost_snapshot(fs, self, owners));
            c.stack_bytes = stack.value_or(default_thread_stack());
            c.default_stack = !stack;
            c.holds_connection = server.has_value();
            channel.report(to_json(c).dump());
        },
        options);
    if (outcome.said_it_failed())
        throw std::runtime_error("thread cost sample: " + outcome.message);
    if (!outcome.reported())
        throw std::runtime_error("thread cost sample: the child ended with " + outcome.describe());
    return json::parse(outcome.message).get<ThreadCostSample>();
}

const LimitReading* StackForecast::binding() const {
    for (const auto& r : limits)
        if (r.name == binding_limit) return &r;
    return nullptr;
}

json to_json(const StackForecast& f) {
    json limits = json::array();
    for (const auto& r : f.limits) {
        json l = to_json(r);
        l["name"] = r.name;  // the forecast's own key; "limit" kept for the shared reader
        limits.push_back(std::move(l));
    }
    return {{"stack_bytes", f.cost.stack_bytes},
            {"default_stack", f.cost.default_stack},
            {"current_threads", f.current_threads},
            {"threads", optional_json(f.threads)},
            {"binding_limit", f.binding_limit},
            {"cost", to_json(f.cost)},
            {"limits", limits}};
}

void from_json(const json& j, StackForecast& f) {
    f.cost = j.at("cost").get<ThreadCostSample>();
    f.current_threads = j.at("current_threads");
    f.threads = optional_from_json<std::uint64_t>(j.at("threads"));
    f.binding_limit = j.at("binding_limit");
    f.limits = j.at("limits").get<std::vector<LimitReading>>();
}

StackForecast forecast_threads(std::vector<LimitReading> readings, const ThreadCostSample& cost,
                               std::uint64_t current_threads) {
    StackForecast f;
    f.cost = cost;
    f.current_threads = current_threads;
    f.binding_limit = "none";
    std::optional<double> least;
    for (auto& r : readings) {
        // A cost the sample did not see (no connection, no descriptor) leaves that limit out of
        // reach: headroom_threads() would divide by next to nothing.
        r.cost_per_thread = cost_for(r.name, cost);
        const auto room = r.headroom_threads();
        if (!r.enforced || !room || r.cost_per_thread <= 0) continue;
        if (!least || *room < *least) {
            least = *room;
            f.binding_limit = r.name;
        }
    }
    if (least)
        f.threads = current_threads + static_cast<std::uint64_t>(std::floor(std::max(0.0, *least)));
    f.limits = std::move(readings);
    return f;
}

StackForecast forecast_process(const ProcFs& fs, pid_t pid, const ForecastRequest& request) {
    const pid_t self = ::getpid();
    const ThreadCost nominal = ThreadCost::for_stack(request.stack.value_or(default_thread_stack()),
                                                     request.server.has_value());
    std::uint64_t sample = request.sample_threads;
    for (const auto& r : read_limits(fs, self, nominal))
        if (const auto room = r.headroom_threads(); r.enforced && room)
            sample = std::min(sample, static_cast<std::uint64_t>(std::max(0.0, *room / 2)));
    ThreadCostSample cost;
    cost.stack_bytes = nominal.stack_bytes - kThreadGuardBytes;
    cost.default_stack = !request.stack;
    cost.holds_connection = request.server.has_value();
    if (sample > 0)
        cost = sample_thread_cost(request.stack, request.server, request.server_pid, sample);
    std::vector<LimitReading> readings = read_limits(fs, pid, nominal);
    if (request.descriptors_kept > 0)
        for (auto& r : readings)
            if (r.name == "RLIMIT_NOFILE") {
                r.reserved = request.descriptors_kept;
                r.note = fmt::format("{} descriptors kept to sample and diagnose with",
                                     request.descriptors_kept);
            }
    const auto process = fs.process(pid);
    if (!process) throw std::runtime_error(fmt::format("pid {} ended during the forecast", pid));
    return forecast_threads(std::move(readings), cost, process->threads);
}

bool forecasts_agree(std::uint64_t forecast, std::uint64_t measured) {
    const double gap = std::abs(static_cast<double>(forecast) - static_cast<double>(measured));
    return gap <= std::max(16.0, 0.01 * static_cast<double>(std::max(forecast, measured)));
}

std::string describe(const KeepFree& k) {
    return fmt::format("{}%,{}", k.percent, k.tasks);
}

SafetyMargin safety_margin(const ProcFs& fs, const KeepFree& keep) {
    SafetyMargin m;
    // The lower of the two task ceilings every process on the machine shares.
    struct Ceiling {
        const char* name;
        std::optional<std::uint64_t> value;
        std::uint64_t reserved;
    };
    const Ceiling ceilings[] = {{"pid_max", fs.sysctl("kernel.pid_max"), 300},
                                {"threads-max", fs.sysctl("kernel.threads-max"), 0}};
    for (const auto& c : ceilings) {
        if (!c.value || *c.value <= c.reserved) continue;
        const std::uint64_t usable = *c.value - c.reserved;
        const auto kept = std::max<std::uint64_t>(
            keep.tasks, static_cast<std::uint64_t>(
                            std::ceil(static_cast<double>(usable) * keep.percent / 100)));
        const std::uint64_t max_tasks = usable > kept ? usable - kept : 0;
        if (m.max_tasks && *m.max_tasks <= max_tasks) continue;
        m.max_tasks = max_tasks;
        m.evidence = fmt::format(
            "{} {}{}, keeping {} free: at most {} tasks on the machine", c.name, *c.value,
            c.reserved ? fmt::format(" - {} reserved", c.reserved) : "", kept, max_tasks);
    }
    const auto memory = fs.system();
    if (memory && fs.sysctl("vm.overcommit_memory").value_or(0) == 2) {
        const auto kept = static_cast<std::uint64_t>(
            std::ceil(static_cast<double>(memory->commit_limit_kib) * keep.percent / 100));
        m.max_committed_kib = memory->commit_limit_kib > kept ? memory->commit_limit_kib - kept : 0;
        m.evidence += fmt::format("; CommitLimit {} KiB, keeping {} KiB free",
                                  memory->commit_limit_kib, kept);
    }
    return m;
}

json to_json(const SafetyMargin& m) {
    return {{"max_tasks", optional_json(m.max_tasks)},
            {"max_committed_kib", optional_json(m.max_committed_kib)},
            {"evidence", m.evidence}};
}

}  // namespace tp
