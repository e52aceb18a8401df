// The report as a document of blocks, and its two renderings: Markdown that reads well as
// plain text and on a code host, and one self-contained HTML page (figures inline, no
// network) for a browser. Both come from the same blocks, so they cannot disagree.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tp::report {

struct Heading {
    int level = 2;
    std::string text;
};
struct Paragraph {
    std::string text;
};
struct Bullets {
    std::vector<std::string> items;
};
struct Code {
    std::string text;
};
struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<bool> numeric;                 // per column: right-aligned
    std::vector<std::size_t> verdict_columns;  // cells styled by their verdict
};
struct FigureBlock {
    std::string name;  // figures/NAME.svg beside the Markdown
    std::string title;
    std::string caption;
    std::string svg;
};
using Block = std::variant<Heading, Paragraph, Bullets, Code, Table, FigureBlock>;

struct Document {
    std::string title;
    std::vector<Block> blocks;
};

std::string to_markdown(const Document& doc);
std::string to_html(const Document& doc);

}  // namespace tp::report
