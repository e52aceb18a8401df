#include "document.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gnuplot.hpp"

namespace tp::report {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string escape_html(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string markdown_cell(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '|')
            out += "\\|";
        else if (c == '\n')
            out += ' ';
        else
            out += c;
    }
    return out;
}

// The SVG as gnuplot wrote it, less the XML prologue a page cannot hold inline.
std::string inline_svg(const std::string& svg, const std::string& id_prefix) {
    const auto start = svg.find("<svg");
    return prefix_svg_ids(start == std::string::npos ? svg : svg.substr(start), id_prefix);
}

const char* kStyle = R"(
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.holds { background: #dff3df; font-weight: 600; } td.differs { background: #fbe3cf; font-weight: 600; }
td.does-not-apply { background: #eee; font-weight: 600; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 1.5rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #444; max-width: 60rem; }
)";

bool is_verdict_column(const Table& t, std::size_t column) {
    return std::find(t.verdict_columns.begin(), t.verdict_columns.end(), column) !=
           t.verdict_columns.end();
}

std::string slug(const std::string& verdict) {
    std::string out;
    for (char c : verdict) out += c == ' ' ? '-' : c;
    return out;
}

}  // namespace

std::string to_markdown(const Document& doc) {
    std::string out = fmt::format("# {}\n", doc.title);
    for (const Block& block : doc.blocks) {
        out += '\n';
        std::visit(Overloaded{
                       [&](const Heading& h) {
                           out += fmt::format("{} {}\n", std::string(h.level, '#'), h.text);
                       },
                       [&](const Paragraph& p) { out += p.text + '\n'; },
                       [&](const Bullets& b) {
                           for (const auto& item : b.items) out += fmt::format("- {}\n", item);
                       },
                       [&](const Code& c) { out += fmt::format("```\n{}\n```\n", c.text); },
                       [&](const Table& t) {
                           out += '|';
                           for (const auto& h : t.header)
                               out += fmt::format(" {} |", markdown_cell(h));
                           out += "\n|";
                           for (std::size_t i = 0; i < t.header.size(); ++i)
                               out += i < t.numeric.size() && t.numeric[i] ? "---:|" : "---|";
                           out += '\n';
                           for (const auto& row : t.rows) {
                               out += '|';
                               for (std::size_t i = 0; i < row.size(); ++i) {
                                   const bool verdict = is_verdict_column(t, i);
                                   out += verdict ? fmt::format(" **{}** |", markdown_cell(row[i]))
                                                  : fmt::format(" {} |", markdown_cell(row[i]));
                               }
                               out += '\n';
                           }
                       },
                       [&](const FigureBlock& f) {
                           out += fmt::format("![{}](figures/{}.svg)\n\n*{}* {}\n", f.title, f.name,
                                              f.title, f.caption);
                       },
                   },
                   block);
    }
    return out;
}

std::string to_html(const Document& doc) {
    std::string out = fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape_html(doc.title), kStyle, escape_html(doc.title));
    for (const Block& block : doc.blocks) {
        std::visit(
            Overloaded{
                [&](const Heading& h) {
                    out += fmt::format("<h{0} id=\"{2}\">{1}</h{0}>\n", h.level,
                                       escape_html(h.text), slug(escape_html(h.text)));
                },
                [&](const Paragraph& p) { out += fmt::format("<p>{}</p>\n", escape_html(p.text)); },
                [&](const Bullets& b) {
                    out += "<ul>\n";
                    for (const auto& item : b.items)
                        out += fmt::format("<li>{}</li>\n", escape_html(item));
                    out += "</ul>\n";
                },
                [&](const Code& c) { out += fmt::format("<pre>{}</pre>\n", escape_html(c.text)); },
                [&](const Table& t) {
                    out += "<table>\n<tr>";
                    for (const auto& h : t.header)
                        out += fmt::format("<th>{}</th>", escape_html(h));
                    out += "</tr>\n";
                    for (const auto& row : t.rows) {
                        out += "<tr>";
                        for (std::size_t i = 0; i < row.size(); ++i) {
                            std::string cls;
                            if (is_verdict_column(t, i))
                                cls = slug(row[i]);
                            else if (i < t.numeric.size() && t.numeric[i])
                                cls = "num";
                            out += cls.empty() ? fmt::format("<td>{}</td>", escape_html(row[i]))
                                               : fmt::format("<td class=\"{}\">{}</td>", cls,
                                                             escape_html(row[i]));
                        }
                        out += "</tr>\n";
                    }
                    out += "</table>\n";
                },
                [&](const FigureBlock& f) {
                    out += fmt::format(
                        "<figure id=\"{0}\">\n{1}\n<figcaption><strong>{2}.</strong> "
                        "{3}</figcaption>\n"
                        "</figure>\n",
                        f.name, inline_svg(f.svg, f.name + "-"), escape_html(f.title),
                        escape_html(f.caption));
                },
            },
            block);
    }
    return out + "</body>\n</html>\n";
}

}  // namespace tp::report
