#pragma once
// A problem at a place in text. The parser reports problems as Diagnostics (never throws,
// never opens files): the builder hands it text and a display name, and gets back every
// error and warning with its place.

#include <string>
#include <string_view>
#include <vector>

namespace parser {

enum class Severity { Error, Warning };

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string file;     // display name, e.g. "Dockerfile"
  int line = 0;         // 1-based; 0 when the problem has no line
  int column = 0;       // 1-based; 0 when unknown
  int length = 0;       // characters to underline from `column`; 0 for a single caret
  std::string message;  // "unknown instruction \"RUNN\""
  std::string hint;     // "did you mean \"RUN\"?"; empty when there is none

  bool is_error() const { return severity == Severity::Error; }
};

// "Dockerfile:7: unknown instruction \"RUNN\" (did you mean \"RUN\"?)"
std::string format_headline(const Diagnostic& d);

// The headline, then when `source` has the line and the column is known, the line and a
// caret underline:
//     7 | RUNN make -C /src
//       | ^~~~
std::string format_with_source(const Diagnostic& d, std::string_view source);

bool has_errors(const std::vector<Diagnostic>& diagnostics);

}  // namespace parser
