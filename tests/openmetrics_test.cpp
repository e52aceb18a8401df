// --openmetrics against the real consumers: Debian's prometheus-node-exporter started on a
// loopback port with its textfile collector on the test's folder, scraped over HTTP, must serve
// our series with the values the same run's JSON has; promtool's linter must pass the files;
// and the bad input an operator's unit file can bring fails before the run.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "background_program.hpp"
#include "deep_threads_subject.hpp"
#include "result_files.hpp"
#include "run_program.hpp"
#include "temp_tree.hpp"
#include "test_client.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tp::test::run_program;
using Clock = std::chrono::steady_clock;

constexpr const char* kNodeExporter = "/usr/bin/prometheus-node-exporter";
constexpr const char* kPromtool = "/usr/bin/promtool";

bool installed(const char* path) {
    return ::access(path, X_OK) == 0;
}

// Two threads of 64 KiB stacks, 8 and 24 KiB deep.
struct Subject : tp::test::DeepThreads {
    Subject() : DeepThreads("65536", "8,24") {}
};

// A series' name as the exposition spells it: labels sorted by name (both prometheus-cpp and
// node_exporter sort them) but a histogram's `le`, which both put last; values quoted.
std::string series(const std::string& name, std::map<std::string, std::string> labels) {
    std::string out = name + "{";
    auto add = [&](const std::string& label, const std::string& value) {
        out += (out.back() == '{' ? "" : ",") + label + "=\"" + value + "\"";
    };
    const auto le = labels.extract("le");
    for (const auto& [label, value] : labels) add(label, value);
    if (le) add(le.key(), le.mapped());
    return out + "}";
}

// Every sample of an exposition, series -> value (node_exporter re-renders numbers, 8388608 as
// 8.388608e+06, so they are compared as numbers).
std::map<std::string, double> samples(const std::string& exposition) {
    std::map<std::string, double> out;
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        if (space == std::string::npos) continue;
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
}

// promtool's linter on `file`; a WARN where Debian's prometheus package is not installed.
void check_with_promtool(const fs::path& file) {
    if (!installed(kPromtool)) {
        WARN("promtool missing (Debian package prometheus): " << file << " not linted");
        return;
    }
    // It lints only its stdin.
    tp::Subprocess promtool(
        {"/bin/sh", "-c", std::string("exec ") + kPromtool + " check metrics < \"$1\"", "promtool",
         file.string()},
        tp::test::program_options({}));
    const auto run = tp::test::finish(promtool, std::chrono::seconds(30));
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
}

// node_exporter with only its textfile collector, on an ephemeral loopback port (it says which
// on stderr); killed by pid when the test ends.
class NodeExporter {
  public:
    explicit NodeExporter(const fs::path& textfile_dir)
        : process_(
              {kNodeExporter, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults",
               "--collector.textfile", "--collector.textfile.directory=" + textfile_dir.string()},
              [] {
                  tp::SubprocessOptions o;
                  o.out = tp::Capture::memory;
                  return o;
              }()) {
        const std::regex listening(R"(msg="Listening on" address=127\.0\.0\.1:(\d+))");
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        for (;;) {
            // The match points into the log: read the port while the log still lives.
            const std::string log = process_.output_text(tp::Stream::err);
            if (std::smatch m; std::regex_search(log, m, listening)) {
                port_ = static_cast<std::uint16_t>(std::stoul(m[1].str()));
                break;
            }
            INFO(log);
            REQUIRE(process_.running());
            REQUIRE(Clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    // GET /metrics: the body of the answer.
    std::string scrape() {
        tp::test::Client client(tp::Endpoint{"127.0.0.1", port_});
        REQUIRE(client.send("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
        std::string answer;
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        while (Clock::now() < deadline) {
            const auto got = client.read_within(deadline);
            if (!got || got->empty()) break;
            answer += *got;
        }
        INFO(answer.substr(0, 500));
        REQUIRE(answer.rfind("HTTP/1.0 200", 0) == 0);
        return answer.substr(answer.find("\r\n\r\n") + 4);
    }

  private:
    tp::Subprocess process_;
    std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE(
    "openmetrics: node_exporter serves a live process's and the host's series with the "
    "values their JSON has",
    "[openmetrics]") {
    tp::test::TempTree dir;
    Subject subject;
    const std::string pid = std::to_string(subject.pid());
    const fs::path live_json = dir.root() / "live.json";
    const fs::path host_json = dir.root() / "host.json";
    const fs::path live_prom = dir.root() / "deep_threads.prom";
    const fs::path host_prom = dir.root() / "host.prom";

    const auto live = run_program("threadprobe", {"--pid", pid, "--json", live_json.string(),
                                                  "--openmetrics", live_prom.string(), "-q"});
    INFO(live.err);
    REQUIRE(live.exit_code == 0);
    const auto host =
        run_program("limitprobe", {"--forecast", "--stack", "64k", "--json", host_json.string(),
                                   "--openmetrics", host_prom.string(), "-q"});
    INFO(host.err);
    REQUIRE(host.exit_code == 0);
    // Whole files, and nothing else: the temporaries they were written through are gone.
    CHECK(std::distance(fs::directory_iterator(dir.root()), fs::directory_iterator()) == 4);
    check_with_promtool(live_prom);
    check_with_promtool(host_prom);

    std::string exposition;
    if (installed(kNodeExporter)) {
        NodeExporter exporter(dir.root());
        exposition = exporter.scrape();
        const auto scraped = samples(exposition);
        INFO(exposition.substr(0, 2000));
        // It read every file of the folder without complaint.
        REQUIRE(scraped.count("node_textfile_scrape_error"));
        CHECK(scraped.at("node_textfile_scrape_error") == 0);
    } else {
        WARN(
            "prometheus-node-exporter missing (Debian package prometheus-node-exporter): the "
            "files are checked as written, not as scraped");
        exposition = read_file(live_prom) + read_file(host_prom);
    }
    const auto scraped = samples(exposition);
    auto value = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
        const std::string key = series(name, labels);
        INFO(key);
        REQUIRE(scraped.count(key));
        return scraped.at(key);
    };

    const json l = tp::test::read_json(live_json);
    const std::map<std::string, std::string> process{
        {"scope", "process"}, {"pid", pid}, {"process", "deep_threads"}};
    const json& p = l["process"];
    CHECK(value("threadprobe_process_threads", process) == p["threads"].get<double>());
    CHECK(value("threadprobe_process_resident_bytes", process) ==
          p["rss_kib"].get<double>() * 1024);
    CHECK(value("threadprobe_process_stack_reserved_bytes", process) ==
          p["stacks_reserved_kib"].get<double>() * 1024);
    CHECK(value("threadprobe_process_stack_resident_bytes", process) ==
          p["stacks_resident_kib"].get<double>() * 1024);
    CHECK(value("threadprobe_process_kernel_stack_bytes", process) ==
          p["kernel_stacks_kib"].get<double>() * 1024);
    // Two 64 KiB threads: both in the histogram, none past their stack, no series of their own.
    CHECK(value("threadprobe_thread_stack_high_water_bytes_count", process) == 2);
    auto bucket = process;
    bucket["le"] = "65536";
    CHECK(value("threadprobe_thread_stack_high_water_bytes_bucket", bucket) == 2);
    bucket["le"] = "8192";
    CHECK(value("threadprobe_thread_stack_high_water_bytes_bucket", bucket) == 0);
    CHECK(value("threadprobe_thread_stack_high_water_bytes_sum", process) >=
          l["high_water"]["max_kib"].get<double>() * 1024);
    CHECK(exposition.find("tid=") == std::string::npos);
    auto stack = process;
    stack["stack_bytes"] = std::to_string(l["forecast"]["stack_bytes"].get<std::uint64_t>());
    CHECK(value("threadprobe_forecast_threads", stack) == l["forecast"]["threads"].get<double>());
    auto binding = stack;
    binding["limit"] = l["forecast"]["binding_limit"];
    CHECK(value("threadprobe_forecast_binding_limit_info", binding) == 1);

    // The host's forecast: no pid, so a run every minute keeps the same series.
    const json h = tp::test::read_json(host_json);
    REQUIRE(h["forecast"].size() == 1);
    const json& f = h["forecast"][0];
    const std::map<std::string, std::string> host_stack{{"scope", "host"},
                                                        {"stack_bytes", "65536"}};
    CHECK(value("threadprobe_forecast_threads", host_stack) == f["threads"].get<double>());
    CHECK(value("threadprobe_forecast_headroom_threads", host_stack) ==
          f["threads"].get<double>() - f["current_threads"].get<double>());
    for (const json& limit : f["limits"]) {
        if (!limit["headroom_threads"].is_number()) continue;
        auto labels = host_stack;
        labels["limit"] = limit["name"];
        labels["enforced"] = limit["enforced"].get<bool>() ? "true" : "false";
        CHECK(value("threadprobe_limit_headroom_threads", labels) ==
              Approx(limit["headroom_threads"].get<double>()).epsilon(1e-9));
        const double ratio = value("threadprobe_limit_headroom_ratio", labels);
        CHECK(ratio >= 0);
        CHECK(ratio <= 1);
    }
}

TEST_CASE("openmetrics: with --watch the file is replaced whole at every interval",
          "[openmetrics]") {
    tp::test::TempTree dir;
    Subject subject;
    const fs::path prom = dir.root() / "watched.prom";
    tp::test::BackgroundProgram watch(
        "threadprobe", {"--pid", std::to_string(subject.pid()), "--watch", "4s", "--interval",
                        "500ms", "--openmetrics", prom.string(), "-q"});
    // Each write is a rename onto the name, so a rewrite is a new inode there.
    auto inode = [&]() -> std::optional<ino_t> {
        struct stat st {};
        if (::stat(prom.c_str(), &st) != 0) return std::nullopt;
        return st.st_ino;
    };
    std::set<ino_t> seen;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (seen.size() < 3 && Clock::now() < deadline) {
        if (const auto now = inode()) {
            seen.insert(*now);
            // Whatever moment the collector reads it at, the file is whole.
            const std::string text = read_file(prom);
            CHECK(text.find("# TYPE threadprobe_process_threads gauge") != std::string::npos);
            CHECK(text.back() == '\n');
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(seen.size() >= 3);
    const auto run = watch.finish(std::chrono::seconds(30));
    INFO(run.err);
    CHECK(run.exit_code == 0);
    check_with_promtool(prom);
}

TEST_CASE(
    "openmetrics: a name the collector ignores, an unwritable path, a run with nothing "
    "to export: one line, before the run",
    "[openmetrics]") {
    tp::test::TempTree dir;
    const std::string self = std::to_string(::getpid());
    {
        const auto run = run_program(
            "limitprobe", {"--forecast", "--openmetrics", (dir.root() / "host.txt").string()});
        CHECK(run.exit_code == 2);
        CHECK(run.err.find("--openmetrics") != std::string::npos);
        CHECK(run.err.find(".prom") != std::string::npos);
    }
    {
        // Under a regular file: unwritable for root too. Checked before the forecast's threads
        // are made, and the JSON asked for beside it is not left half-done.
        tp::test::TempTree other;
        other.write("file", "x");
        const fs::path json_path = dir.root() / "host.json";
        const auto run =
            run_program("limitprobe", {"--forecast", "--json", json_path.string(), "--openmetrics",
                                       (other.root() / "file" / "host.prom").string()});
        CHECK(run.exit_code == 1);
        CHECK(run.err.find("host.prom") != std::string::npos);
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
        CHECK(!fs::exists(json_path));
        const auto live = run_program(
            "threadprobe",
            {"--pid", self, "--openmetrics", (other.root() / "file" / "live.prom").string()});
        CHECK(live.exit_code == 1);
        CHECK(live.err.find("live.prom") != std::string::npos);
    }
    for (const auto& [program, args] :
         std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"limitprobe", {"--stack", "64k"}}, {"threadprobe", {"--threads", "1"}}}) {
        auto with = args;
        with.insert(with.end(), {"--openmetrics", (dir.root() / "x.prom").string()});
        const auto run = run_program(program, with);
        INFO(program << ": " << run.err);
        CHECK(run.exit_code == 2);
        CHECK(run.err.find("--openmetrics") != std::string::npos);
        CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    }
    CHECK(fs::is_empty(dir.root()));
}

TEST_CASE(
    "openmetrics: the shipped alerting rules fire on a limit 90% used for five minutes, a "
    "pids cgroup binding, a file no longer rewritten, and only then",
    "[openmetrics]") {
    if (!installed(kPromtool)) {
        WARN("promtool missing (Debian package prometheus): the alerting rules are not tested");
        return;
    }
    const fs::path rules = fs::path(TP_SOURCE_DIR) / "examples/openmetrics/threadprobe-alerts.yml";
    const fs::path cases = fs::path(TP_FIXTURES_DIR) / "alerts/threadprobe-alerts.test.yml";
    for (const auto& args :
         std::vector<std::vector<std::string>>{{kPromtool, "check", "rules", rules.string()},
                                               {kPromtool, "test", "rules", cases.string()}}) {
        tp::Subprocess promtool(args, tp::test::program_options({}));
        const auto run = tp::test::finish(promtool, std::chrono::seconds(60));
        INFO(args[1] << ": " << run.out << run.err);
        CHECK(run.exit_code == 0);
    }
}
