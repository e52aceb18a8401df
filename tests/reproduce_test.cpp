// scripts/reproduce in small: every probe runs for real into a results folder laid out as the
// script lays it out (NAME.json, NAME.txt, NAME.err and experiments.tsv in OUT/results), then the
// real tpreport renders it and the report's readers read the same files. The fixture in
// tests/fixtures/report shows the readers a run from the past; this shows them what the probes
// write today. Sized for seconds: few threads, short runs, a small --max.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "claims.hpp"
#include "probe_results.hpp"
#include "python_server.hpp"
#include "result_files.hpp"
#include "results.hpp"
#include "run_program.hpp"
#include "sanitized.hpp"
#include "test_client.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tp::report::Claim;
using tp::report::Verdict;

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// OUT/results as scripts/reproduce fills it, removed at the end of the test.
class ReproductionRun {
  public:
    ReproductionRun() {
        fs::remove_all(out_);
        fs::create_directories(results());
        std::ofstream(results() / "experiments.tsv") << "name\tseconds\tstatus\tcommand\n";
    }
    ~ReproductionRun() { fs::remove_all(out_); }
    ReproductionRun(const ReproductionRun&) = delete;
    ReproductionRun& operator=(const ReproductionRun&) = delete;

    const fs::path& out() const { return out_; }
    fs::path results() const { return out_ / "results"; }
    const std::vector<std::string>& names() const { return names_; }

    // What the script's experiment() does: NAME.json from --json, the table and the progress
    // beside it, one line of experiments.tsv with its duration, status and command.
    void experiment(const std::string& name, const std::string& program,
                    std::vector<std::string> args) {
        args.insert(args.end(), {"--json", (results() / (name + ".json")).string()});
        const auto start = std::chrono::steady_clock::now();
        const tp::test::ProgramRun run =
            tp::test::run_program(program, args, tp::test::within(60s));
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::ofstream(results() / (name + ".txt")) << run.out;
        std::ofstream(results() / (name + ".err")) << run.err;
        std::string command = tp::test::program(program);
        for (const auto& arg : args) command += " " + arg;
        std::ofstream(results() / "experiments.tsv", std::ios::app)
            << fmt::format("{}\t{:.3f}\t{}\t{}\n", name, seconds, run.exit_code, command);
        names_.push_back(name);
        INFO(name << ": " << run.err);
        // Each run is sized to stay clear of every limit: exit 0, not the 1 of a limit reached.
        REQUIRE(run.exit_code == 0);
    }

  private:
    fs::path out_ = tp::test::temp_path("reproduce", "out");
    std::vector<std::string> names_;
};

// The article's experiments, as scripts/reproduce --quick runs them, only smaller. The report
// asks for the default-stack run of 1000 threads by name, so that one has its 1000.
void run_every_probe(ReproductionRun& run) {
    for (const std::string stack : {"16k", "64k"})
        run.experiment("threadprobe-" + stack + "-100", "threadprobe",
                       {"--threads=100", "--stack=" + stack, "--hold=200ms"});
    run.experiment("threadprobe-default-1000", "threadprobe",
                   {"--threads=1000", "--stack=default", "--hold=200ms"});
    run.experiment("scale-threads", "threadprobe",
                   {"--threads=100", "--stack=64k", "--hold=200ms"});
    {
        auto epoll = tp::test::start_fibserver(
            {"--model", "epoll", "--max-connections", "200", "--idle-timeout", "none"});
        run.experiment("scale-epoll", "threadprobe",
                       {"--threads=100", "--stack=64k", "--hold=200ms", "--connect",
                        fmt::format("{}:{}", epoll.endpoint().host, epoll.endpoint().port),
                        "--server-pid", std::to_string(epoll.pid())});
        CHECK(epoll.stop() == 0);
    }
    {
        // A live server: a thread per connection, each blocked once it has answered.
        auto server = tp::test::start_fibserver({"--model", "threads", "--idle-timeout", "none"});
        std::vector<std::unique_ptr<tp::test::Client>> clients;
        for (int i = 0; i < 10; ++i) {
            clients.push_back(std::make_unique<tp::test::Client>(server.endpoint()));
            REQUIRE(clients.back()->ask("10\n") == "55\n");
        }
        run.experiment("live-fibserver-threads", "threadprobe",
                       {"--pid", std::to_string(server.pid())});
        clients.clear();
        CHECK(server.stop() == 0);
    }
    run.experiment("stackprobe", "stackprobe", {"--stack=16k,64k,256k,1m"});
    run.experiment("limitprobe", "limitprobe", {"--stack=64k", "--max=200", "--time-limit=20s"});
    run.experiment("limitprobe-connections", "limitprobe",
                   {"--connections", "--stack=64k", "--max=200", "--time-limit=20s"});
    for (const auto& model : tp::report::article_models()) {
        for (const std::string clients : {"1", "2"})
            run.experiment(
                fmt::format("latency-{}-{}", model, clients), "latencyprobe",
                {"--server-model", model, "--clients", clients, "--n", "25", "--count", "4"});
        run.experiment("rate-" + model, "rateprobe",
                       {"--server-model", model, "--duration", "1s", "--interfere", "30@0.3s"});
    }
    // The uninterruptible instruction: about 0.4 s of fibserver's loop, a quarter of the count
    // under sanitizers, which make each element several times slower.
    run.experiment(
        "spam-gil", "rateprobe",
        {"--server-model", "gil", "--duration", "3s", "--interfere",
         tp::test::kSanitized ? "spam:15000000@0.3s" : "spam:60000000@0.3s", "--sigint"});
    // CPython beside the emulation, as scripts/reproduce runs it where python3 is.
    if (tp::find_on_path("python3")) {
        for (const std::string clients : {"1", "2"})
            run.experiment(fmt::format("latency-python-threads-{}", clients), "latencyprobe",
                           {"--server-model", "python:threads", "--clients", clients, "--n", "22",
                            "--count", "3"});
        run.experiment(
            "rate-python-threads", "rateprobe",
            {"--server-model", "python:threads", "--duration", "1s", "--interfere", "28@0.3s"});
        run.experiment("spam-python-threads", "rateprobe",
                       {"--server-model", "python:threads", "--duration", "2s", "--interfere",
                        "spam:12000000@0.3s", "--sigint"});
    }
}

Claim claim_starting(const std::vector<Claim>& claims, const std::string& start) {
    const auto it = std::find_if(claims.begin(), claims.end(),
                                 [&](const Claim& c) { return c.article.rfind(start, 0) == 0; });
    REQUIRE(it != claims.end());
    return *it;
}

// The claims judged from the fresh files: each quotes what this run measured, and those whose
// verdict follows from how the run was sized, or from how the machine works, have it.
void check_claims(const tp::report::Results& results, const std::vector<Claim>& claims) {
    for (const auto& c : claims) {
        INFO(c.article);
        CHECK_FALSE(c.measured.empty());
        for (const auto& source : c.sources) CHECK(results.has(source));
    }
    const auto default_run = tp::report::sweep_run(results, "default", 1000);
    CHECK_THAT(claim_starting(claims, "By default each thread").measured,
               Catch::Contains(fmt::format("{:.1f} KiB", default_run.probe.vsz_per_thread_kib)));
    const auto paging = tp::report::read_paging(results);
    CHECK_THAT(claim_starting(claims, "Real memory arrives").measured,
               Catch::Contains(fmt::format("steps of {:.0f} B (page {:.0f} B)",
                                           paging.resident_step_bytes, paging.page_bytes)));
    // --max 200 stops limitprobe before any limit: nothing was found to cap the threads.
    const Claim capped = claim_starting(claims, "Systems place an upper limit");
    CHECK(capped.verdict == Verdict::does_not_apply);
    CHECK_THAT(capped.measured, Catch::Contains("200 threads"));
    CHECK_THAT(claim_starting(claims, "Tens of thousands").measured,
               Catch::Contains("stopped at 200 connections"));
    // Under the GIL (CPython's where measured) the instruction lets no tiny request through,
    // and the stop waits for it: the lock's mechanism, whatever the machine's speed.
    CHECK(claim_starting(claims, "A single uninterruptible instruction").verdict == Verdict::holds);
    // The iterative server answers the second client only once the first has hung up.
    CHECK(claim_starting(claims, "A single-threaded server").verdict == Verdict::holds);
    if (!tp::test::kSanitized) {
        // Frames fill the stack, and a page is what arrives: the program's own layout.
        CHECK(claim_starting(claims, "Deep recursion").verdict == Verdict::holds);
        if (paging.page_bytes == 4096)
            CHECK(claim_starting(claims, "Real memory arrives").verdict == Verdict::holds);
    }
}

}  // namespace

TEST_CASE("tpreport reads fresh output of every probe and judges every claim from it",
          "[tpreport][reproduce]") {
    ReproductionRun run;
    run_every_probe(run);

    const auto results = tp::report::Results::load(run.results());
    REQUIRE(results.experiments().size() == run.names().size());
    for (const auto& experiment : results.experiments()) {
        INFO(experiment.name);
        CHECK(results.has(experiment.name));
        CHECK(experiment.status == 0);
    }
    CHECK(tp::report::read_sweep(results).size() == 3);
    // Fresh scale runs price the socket's kernel memory (slabinfo, or meminfo's Slab): every
    // connection end is at least a socket object, so more than nothing.
    for (const char* model : {"threads", "epoll"}) {
        INFO(model);
        const auto scale = tp::report::read_scale(results, model);
        REQUIRE(scale.socket_kernel_kib_per_connection);
        CHECK(*scale.socket_kernel_kib_per_connection > 0);
        CHECK(scale.total_kib_per_connection() >
              scale.user_kib_per_connection + scale.kernel_stack_kib_per_connection);
    }
    const auto claims = tp::report::evaluate_claims(results);
    check_claims(results, claims);

    const auto report = tp::test::run_program(
        "tpreport", {"--results", run.results().string(), "--out", run.out().string()},
        tp::test::within(60s));
    INFO(report.err);
    REQUIRE(report.exit_code == 0);
    CHECK_THAT(report.out, Catch::StartsWith(fmt::format("tpreport: {} claims", claims.size())) &&
                               Catch::Contains("; 9 figures;"));
    // The forecast's figure and the live server's too: fresh results carry them.
    for (const char* figure :
         {"memory-vs-threads", "cost-per-thread", "stack-paging", "depth-vs-stack", "perf1-latency",
          "perf2-timeline", "limit-headroom", "live-high-water", "connection-cost"}) {
        INFO(figure);
        CHECK_THAT(read_file(run.out() / "figures" / (std::string(figure) + ".svg")),
                   Catch::Contains("<svg") && Catch::Contains("</svg>"));
    }
    // Every experiment is in the report's account of what ran, and every claim in its table.
    const std::string md = read_file(run.out() / "report.md");
    for (const auto& name : run.names()) CHECK_THAT(md, Catch::Contains("| " + name + " |"));
    for (std::size_t i = 0; i < claims.size(); ++i)
        CHECK_THAT(md, Catch::Contains(fmt::format("\n| {} | {} | ", i + 1, claims[i].article)));
    CHECK(fs::exists(run.out() / "report.html"));
    // The live server's section: its 10 connection threads, each stack found.
    const auto live = tp::report::read_live_inspections(results);
    REQUIRE(live.size() == 1);
    CHECK(live[0].high_water_kib.size() >= 10);
    CHECK_THAT(md, Catch::Contains("### A live server inspected") &&
                       Catch::Contains("| fibserver-threads (fibserver) |"));
    // The emulated GIL against CPython, both measured in this run where python3 is.
    CHECK_THAT(md, Catch::Contains("### The emulated GIL against CPython"));
    if (tp::find_on_path("python3")) {
        CHECK_THAT(
            md, Catch::Contains("| perf1: the faster of 2 clients' median latency / 1 client's |"));
        REQUIRE(tp::report::gil_figures(results, "python-threads"));
    } else {
        WARN("no python3: CPython is not measured beside the emulated GIL");
        CHECK_THAT(md, Catch::Contains("CPython not measured: no python3"));
    }
}
