// tpbench: scripts/bench's engine. Runs the probes and their bare references interleaved,
// computes every ratio, prints the table and writes the JSON.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "bench_report.hpp"
#include "cli.hpp"
#include "machine_load.hpp"
#include "output_file.hpp"
#include "procfs.hpp"
#include "units.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::set<std::string> kParts = {"spawn", "rate", "scale", "forecast", "inspect"};

struct Options {
    std::string out;
    bool quick = false;
    tp::Count repetitions{5};
    tp::Count threads{10000};
    tp::StackSize stack{65536};
    tp::Duration rate_duration{2s};
    std::string only = "spawn,rate,scale,forecast,inspect";
    std::string scratch;
};

std::set<std::string> parse_parts(const std::string& text) {
    std::set<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) {
        if (!kParts.count(part))
            throw tp::UsageError(fmt::format(
                "option '--only': '{}' is not spawn, rate, scale, forecast or inspect", part));
        parts.insert(part);
    }
    if (parts.empty()) throw tp::UsageError("option '--only': name at least one part");
    return parts;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    Options o;
    po::options_description options("options", 100);
    // clang-format off
    options.add_options()
        ("out,o", po::value(&o.out)->value_name("FILE"), "write the results as JSON here")
        ("quick", po::bool_switch(&o.quick), "3 repetitions, 1s rate runs, 1 scale run: a smoke test, not a measurement")
        ("repetitions,r", po::value(&o.repetitions)->value_name("N"), "repetitions of every figure (default 5; scale runs 3)")
        ("threads,n", po::value(&o.threads)->value_name("N"), "connection threads in the spawn figure (default 10000)")
        ("stack,s", po::value(&o.stack)->value_name("SIZE"), "their stack, and the threads model's in the scale figure (default 64k)")
        ("rate-duration", po::value(&o.rate_duration)->value_name("DURATION"), "each request-rate run (default 2s)")
        ("only", po::value(&o.only)->value_name("PARTS"), "some of spawn,rate,scale,forecast,inspect (default all)")
        ("scratch", po::value(&o.scratch)->value_name("DIR"), "each run's own results files (default: bench-scratch beside bin/)");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("tpbench", "[--out FILE] [--quick] [options]",
                                                 options, argc, argv, vm))
        return *done;
    const std::set<std::string> parts = parse_parts(o.only);
    tp::require_range("repetitions", o.repetitions.value, 1, 100);
    tp::require_range("threads", o.threads.value, 1, 100'000);
    if (!o.stack.bytes) throw tp::UsageError("option '--stack': a size, not 'default'");
    if (o.rate_duration.value < 1s) throw tp::UsageError("option '--rate-duration': at least 1s");
    const unsigned repetitions =
        vm.count("repetitions") ? static_cast<unsigned>(o.repetitions.value) : (o.quick ? 3u : 5u);

    std::optional<tp::OutputFile> out_file;
    if (!o.out.empty()) out_file.emplace(o.out);
    const fs::path bin_dir = fs::path(tp::sibling_program("fibserver")).parent_path();
    const fs::path scratch =
        o.scratch.empty() ? bin_dir.parent_path() / "bench-scratch" : fs::path(o.scratch);
    fs::create_directories(scratch);

    const tp::ProcFs procfs;
    tp::bench::BenchResult result;
    result.quick = o.quick;
    result.context = tp::read_machine_context(procfs, ::getpid(),
                                              tp::ThreadCost::for_stack(*o.stack.bytes, true));
    result.repetitions = repetitions;
    result.load_at_start = tp::load_average(procfs);
    const tp::CpuClock cpu_at_start = tp::read_cpu_clock(procfs);
    const auto started = std::chrono::steady_clock::now();
    const tp::bench::Environment env{
        bin_dir, scratch, [](std::string_view line) { fmt::print(stderr, "tpbench: {}\n", line); }};

    if (parts.count("spawn")) {
        tp::bench::SpawnConfig config;
        config.threads = o.threads.value;
        config.stack = *o.stack.bytes;
        config.repetitions = repetitions;
        if (o.quick) config.hold = 1s;
        result.spawn = tp::bench::run_spawn_bench(config, env);
    }
    if (parts.count("rate")) {
        tp::bench::RateConfig config;
        config.repetitions = repetitions;
        config.duration = vm.count("rate-duration") || !o.quick ? o.rate_duration.value : 1s;
        result.rate = tp::bench::run_rate_bench(config, env);
    }
    if (parts.count("scale")) {
        tp::bench::ScaleConfig config;
        config.thread_stack = *o.stack.bytes;
        config.repetitions = vm.count("repetitions") ? repetitions : (o.quick ? 1u : 3u);
        result.scale = tp::bench::run_scale_bench(config, env);
    }
    if (parts.count("forecast")) {
        tp::bench::ForecastConfig config;
        config.repetitions = vm.count("repetitions") ? repetitions : 3u;
        result.forecast = tp::bench::run_forecast_bench(config, env);
    }
    if (parts.count("inspect")) {
        tp::bench::InspectConfig config;
        config.repetitions = vm.count("repetitions") ? repetitions : 3u;
        if (o.quick) config.connections = 2000;
        result.inspect = tp::bench::run_inspect_bench(config, env);
    }

    result.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.load_at_end = tp::load_average(procfs);
    result.cpu = tp::load_between(cpu_at_start, tp::read_cpu_clock(procfs));
    std::cout << tp::bench::to_table(result) << std::flush;
    if (out_file) {
        out_file->commit(tp::bench::to_json(result).dump(2) + "\n");
        std::cout << fmt::format("results: {}\n", out_file->path().string());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("tpbench", [&] { return run(argc, argv); });
}
