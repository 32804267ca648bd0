#include "parser/diagnostic.h"

#include <algorithm>

namespace parser {

std::string format_headline(const Diagnostic& d) {
  std::string out = d.file;
  if (d.line > 0) out += ":" + std::to_string(d.line);
  if (!out.empty()) out += ": ";
  if (d.severity == Severity::Warning) out += "warning: ";
  out += d.message;
  if (!d.hint.empty()) out += " (" + d.hint + ")";
  return out;
}

static std::string_view line_of(std::string_view source, int line) {
  size_t start = 0;
  for (int n = 1; n < line; ++n) {
    size_t nl = source.find('\n', start);
    if (nl == std::string_view::npos) return {};
    start = nl + 1;
  }
  size_t end = source.find('\n', start);
  std::string_view text = source.substr(start, end == std::string_view::npos ? source.npos : end - start);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return text;
}

std::string format_with_source(const Diagnostic& d, std::string_view source) {
  std::string out = format_headline(d);
  if (d.line <= 0 || d.column <= 0) return out;
  std::string_view text = line_of(source, d.line);
  if (text.empty()) return out;
  std::string number = std::to_string(d.line);
  std::string pad(number.size(), ' ');
  out += "\n    " + number + " | " + std::string(text);
  out += "\n    " + pad + " | ";
  for (int i = 1; i < d.column && i <= static_cast<int>(text.size()); ++i)
    out += text[i - 1] == '\t' ? '\t' : ' ';
  out += '^';
  for (int i = 1; i < d.length; ++i) out += '~';
  return out;
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.is_error(); });
}

}  // namespace parser
