#pragma once
// Dockerfile text -> Dockerfile (parser/ast.h), checking syntax the way `docker build`'s
// parser does. The parser never opens files and never throws: the builder hands it the
// text and a display name ("Dockerfile", "build/Dockerfile.prod"), and every problem comes
// back as a Diagnostic naming that display name and a 1-based line.
//
// What parse_dockerfile checks (an Error diagnostic each; parsing stops at the first):
//   - parser directives (`# syntax=`, `# escape=`, `# check=`) at the top only: a repeated
//     directive, an escape other than \ or `;
//   - unknown instructions, with a "did you mean" hint;
//   - JSON arrays holding non-strings; ENV/LABEL without a value or with a word lacking '=';
//   - ONBUILD triggers that are ONBUILD, FROM or MAINTAINER, and the trigger's own syntax;
//   - unterminated heredocs; a file with no instructions; a line over 64 KiB.
// Warnings (parsing goes on): empty lines inside a continuation.
// What only a build enforces (unknown flags, argument counts, HEALTHCHECK types, stage
// structure) is in parser/strict.h and parser/stages.h.

#include <string_view>
#include <vector>

#include "parser/ast.h"
#include "parser/diagnostic.h"

namespace parser {

struct ParseResult {
  Dockerfile file;  // complete when there are no errors; up to the first error otherwise
  std::vector<Diagnostic> diagnostics;
};

// Parses a whole Dockerfile. A UTF-8 BOM and CRLF line ends are accepted.
ParseResult parse_dockerfile(std::string_view text, std::string_view display_name);

// The instruction nested in an ONBUILD (`ONBUILD RUN make` -> the RUN), with the ONBUILD's
// lines and heredocs; `escape` is the escape character of the file it came from. Returns a
// ParseResult holding exactly one instruction, or errors (an empty ONBUILD is one).
ParseResult parse_onbuild_trigger(const Instruction& onbuild, char escape,
                                  std::string_view display_name);

}  // namespace parser
