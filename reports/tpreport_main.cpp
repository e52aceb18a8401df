// tpreport: the result files of one scripts/reproduce run in; report.md, report.html,
// report.json and figures/*.svg out. With several --results, one report of those machines side
// by side instead. Nothing is written unless every result, verdict and figure was made.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "claims.hpp"
#include "cli.hpp"
#include "comparison.hpp"
#include "document.hpp"
#include "figures.hpp"
#include "gnuplot.hpp"
#include "output_file.hpp"
#include "report.hpp"
#include "results.hpp"

namespace {

namespace fs = std::filesystem;

// Creates every file beside its final name first, and renames them into place only once all
// of them have been made.
void write_all(const std::vector<std::pair<fs::path, std::string>>& contents) {
    std::vector<std::pair<std::unique_ptr<tp::OutputFile>, const std::string*>> files;
    for (const auto& [path, content] : contents)
        files.emplace_back(std::make_unique<tp::OutputFile>(path), &content);
    for (auto& [file, content] : files) file->commit(*content);
}

int one_machine(const std::string& results_dir, const fs::path& out,
                const tp::report::RunInfo& info) {
    const auto results = tp::report::Results::load(results_dir);
    tp::report::check_version(results);
    const auto claims = tp::report::evaluate_claims(results);
    std::vector<tp::report::DrawnFigure> figures;
    for (auto& figure : tp::report::plan_figures(results)) {
        std::string svg = tp::report::render_svg(figure.script, figure.width, figure.height);
        figures.push_back({std::move(figure), std::move(svg)});
    }
    const auto doc = tp::report::build_report(results, claims, figures, info);

    fs::create_directories(out / "figures");
    std::vector<std::pair<fs::path, std::string>> files;
    for (const auto& drawn : figures)
        files.emplace_back(out / "figures" / (drawn.figure.name + ".svg"), drawn.svg);
    files.emplace_back(out / "report.md", tp::report::to_markdown(doc));
    files.emplace_back(out / "report.html", tp::report::to_html(doc));
    files.emplace_back(out / "report.json",
                       tp::report::report_data(results, claims, info).dump(2) + "\n");
    write_all(files);

    int holds = 0;
    for (const auto& c : claims) holds += c.verdict == tp::report::Verdict::holds;
    std::cout << fmt::format("tpreport: {} claims, {} hold; {} figures; {}\n", claims.size(), holds,
                             figures.size(), (out / "report.html").string());
    return 0;
}

int several_machines(const std::vector<std::string>& results_dirs,
                     const std::vector<std::string>& labels, const fs::path& out,
                     const tp::report::RunInfo& info) {
    const auto machines = tp::report::load_machines(results_dirs, labels);
    const auto doc = tp::report::build_comparison(machines, info);
    fs::create_directories(out);
    write_all({{out / "report.md", tp::report::to_markdown(doc)},
               {out / "report.html", tp::report::to_html(doc)},
               {out / "report.json", tp::report::comparison_data(machines, info).dump(2) + "\n"}});
    std::string summary;
    for (const auto& m : machines) {
        int holds = 0;
        for (const auto& c : m.claims) holds += c.verdict == tp::report::Verdict::holds;
        summary += fmt::format("{}{}: {} of {} hold", summary.empty() ? "" : "; ", m.label, holds,
                               m.claims.size());
    }
    std::cout << fmt::format("tpreport: {} machines ({}); {}\n", machines.size(), summary,
                             (out / "report.html").string());
    return 0;
}

int run(int argc, char** argv) {
    namespace po = tp::po;
    std::vector<std::string> results_dirs, labels;
    std::string out_dir, invocation = "scripts/reproduce";
    po::options_description options("options");
    // clang-format off
    options.add_options()
        ("results", po::value(&results_dirs)->value_name("DIR")->required()->composing(), "the results folder scripts/reproduce wrote; given again (--results A --results B ...), one report of those machines side by side")
        ("label", po::value(&labels)->value_name("NAME")->composing(), "with several --results: each one's column name, in their order (default: its host, with its time where two share a host)")
        ("out", po::value(&out_dir)->value_name("DIR"), "where report.md, report.html, report.json and figures/ go (default with one --results: the results folder's parent; required with several)")
        ("invocation", po::value(&invocation)->value_name("TEXT"), "the command that ran the experiments, for the report's header (default: scripts/reproduce)");
    // clang-format on
    po::variables_map vm;
    if (const auto done = tp::parse_command_line(
            "tpreport", "--results DIR [--results DIR [--label NAME ...] ... --out DIR]", options,
            argc, argv, vm))
        return *done;
    const tp::report::RunInfo info{invocation, tp::report::gnuplot_version(), THREADPROBE_COMPILER};
    if (!labels.empty() && results_dirs.size() == 1)
        throw tp::option_error("label", "only with several --results (one names its column)");
    if (!labels.empty() && labels.size() != results_dirs.size())
        throw tp::option_error("label", fmt::format("one per --results ({} --results, {} --label)",
                                                    results_dirs.size(), labels.size()));
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (std::count(labels.begin(), labels.end(), labels[i]) > 1)
            throw tp::option_error("label", fmt::format("{} names two columns", labels[i]));
    if (results_dirs.size() == 1) {
        const fs::path out =
            out_dir.empty() ? fs::absolute(results_dirs[0]).parent_path() : fs::path(out_dir);
        return one_machine(results_dirs[0], out, info);
    }
    // Each results folder's parent holds its machine's own report: not to be overwritten.
    if (out_dir.empty())
        throw tp::option_error("out",
                               "required with several --results (each folder's parent "
                               "holds that machine's own report)");
    return several_machines(results_dirs, labels, out_dir, info);
}

}  // namespace

int main(int argc, char** argv) {
    return tp::run_main("tpreport", [&] { return run(argc, argv); });
}
