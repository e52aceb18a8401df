// tpreport: the result files of one scripts/reproduce run in; report.md, report.html and
// figures/*.svg out. Nothing is written unless every result, verdict and figure was made.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "claims.hpp"
#include "cli.hpp"
#include "document.hpp"
#include "figures.hpp"
#include "gnuplot.hpp"
#include "output_file.hpp"
#include "report.hpp"
#include "results.hpp"

namespace {

namespace fs = std::filesystem;

int run(int argc, char** argv) {
    namespace po = tp::po;
    std::string results_dir, out_dir, invocation = "scripts/reproduce";
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("results", po::value(&results_dir)->value_name("DIR")->required(), "the results folder scripts/reproduce wrote")
        ("out", po::value(&out_dir)->value_name("DIR"), "where report.md, report.html and figures/ go (default: the results folder's parent)")
        ("invocation", po::value(&invocation)->value_name("TEXT"), "the command that ran the experiments, for the report's header (default: scripts/reproduce)");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line("tpreport", "--results DIR [--out DIR]", options,
                                                 argc, argv, vm))
        return *done;
    const fs::path out =
        out_dir.empty() ? fs::absolute(results_dir).parent_path() : fs::path(out_dir);

    const auto results = tp::report::Results::load(results_dir);
    const auto claims = tp::report::evaluate_claims(results);
    std::vector<tp::report::DrawnFigure> figures;
    for (auto& figure : tp::report::plan_figures(results)) {
        std::string svg = tp::report::render_svg(figure.script, figure.width, figure.height);
        figures.push_back({std::move(figure), std::move(svg)});
    }
    const tp::report::RunInfo info{invocation, tp::report::gnuplot_version(), THREADPROBE_COMPILER};
    const auto doc = tp::report::build_report(results, claims, figures, info);

    // Every file is created beside its final name first, and renamed into place only once
    // all of them have been made.
    fs::create_directories(out / "figures");
    std::vector<std::pair<std::unique_ptr<tp::OutputFile>, std::string>> files;
    for (const auto& drawn : figures)
        files.emplace_back(
            std::make_unique<tp::OutputFile>(out / "figures" / (drawn.figure.name + ".svg")),
            drawn.svg);
    files.emplace_back(std::make_unique<tp::OutputFile>(out / "report.md"),
                       tp::report::to_markdown(doc));
    files.emplace_back(std::make_unique<tp::OutputFile>(out / "report.html"),
                       tp::report::to_html(doc));
    files.emplace_back(std::make_unique<tp::OutputFile>(out / "report.json"),
                       tp::report::report_data(results, claims, info).dump(2) + "\n");
    for (auto& [file, content] : files) file->commit(content);

    int holds = 0;
    for (const auto& c : claims) holds += c.verdict == tp::report::Verdict::holds;
    std::cout << fmt::format("tpreport: {} claims, {} hold; {} figures; {}\n", claims.size(), holds,
                             figures.size(), (out / "report.html").string());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("tpreport", [&] { return run(argc, argv); });
}
