#pragma once
// `.dockerignore` rules with Docker's semantics (moby/patternmatcher as used by
// BuildKit). The parser never opens files: the builder reads the ignore file it picked
// with ignore_file_candidates() and hands the text to IgnoreRules::from_text().
//
// Reading a file, line by line:
//   - a UTF-8 BOM at the start and a `\r` at the end of a line are dropped;
//   - a line whose *first* character is `#` is a comment (`  # x` is the pattern `# x`);
//   - surrounding whitespace is trimmed, empty lines skipped;
//   - `!` makes the line an exception that re-includes what it matches;
//   - the pattern is cleaned like Go's filepath.Clean (`./a/` -> `a`, `a//b/../c` ->
//     `a/c`) and one leading `/` is dropped, so `/a`, `./a` and `a/` all mean `a`.
// Patterns are Go filepath.Match patterns on slash paths relative to the context root:
// `*` and `?` never match `/`, `[a-z]`/`[^a-z]` match one character, `\` escapes. `**`
// matches any number of directories: `**/x` is `x` at any depth, `a/**` everything
// below `a`, `a/**/b` `b` anywhere below `a`. A pattern matches a path if it matches
// the path or any of its parent directories (`build` excludes `build/x/y`); the *last*
// pattern that matches decides, so `*.log` then `!keep.log` keeps keep.log.
//
// A pattern Go would reject (`[a`, `[]`, trailing `\`, a lone `!`) becomes an error
// Diagnostic naming its line and is left out; the builder decides whether to stop.

#include <string>
#include <string_view>
#include <vector>

#include "parser/diagnostic.h"

namespace parser {

struct IgnorePattern {
  std::string text;           // cleaned, without the `!`
  bool is_exception = false;  // a `!` line
  int line = 0;               // 1-based line in the ignore file

  // Internal, compiled form of `text`.
  struct Token {
    enum Kind { Literal, One, Star, DirStar, Rest, Class } kind;
    std::string literal;                       // Literal: one character (UTF-8)
    bool negated = false;                      // Class
    std::vector<std::pair<char32_t, char32_t>> ranges;  // Class
  };
  enum class Mode { Exact, Prefix, Suffix, Tokens };
  Mode mode = Mode::Exact;
  std::vector<Token> tokens;
};

class IgnoreRules {
 public:
  IgnoreRules() = default;

  // Parses the text of an ignore file; `file` names it in diagnostics.
  static IgnoreRules from_text(std::string_view text, std::string_view file = ".dockerignore");

  // Whether the context path `path` (relative to the context root, `/`-separated; a
  // leading `/` or `./` is ignored) is left out of the build context. The root itself
  // (`.`, ``) is never excluded.
  bool excludes(std::string_view path) const;

  // For a context walker that reached an excluded directory `dir`: true when some
  // exception could re-include a path below it, so the walker must descend (and ask
  // excludes() for every entry) instead of skipping the whole subtree. False means
  // nothing below `dir` can be included. This is conservative: a pattern with `**` in
  // the middle of a name, for instance, always answers true. BuildKit walks the same
  // way (a `!**/*.go` exception re-includes Go files inside excluded directories).
  bool may_include_below(std::string_view dir) const;

  bool has_exceptions() const { return has_exceptions_; }
  const std::vector<IgnorePattern>& patterns() const { return patterns_; }
  // Errors for patterns that were left out; empty when all lines were usable.
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<IgnorePattern> patterns_;
  std::vector<Diagnostic> diagnostics_;
  bool has_exceptions_ = false;
};

// Go's filepath.Clean on a `/` path: collapses `//`, `.` and `..`, drops a trailing
// `/`; "" becomes ".".
std::string clean_path(std::string_view path);

// The ignore files to try for a build, in order; the first that exists is used and
// the others are not read. `dockerfile_path` is where the Dockerfile is read from
// (empty or "-" for stdin): its `<name>.dockerignore` sibling comes first, e.g.
// "ctx/docker/app.Dockerfile" -> "ctx/docker/app.Dockerfile.dockerignore"; then
// "<context_dir>/.dockerignore".
std::vector<std::string> ignore_file_candidates(std::string_view context_dir,
                                                std::string_view dockerfile_path);

}  // namespace parser
