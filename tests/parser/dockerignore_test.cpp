#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "parser/dockerignore.h"

namespace {

void check_excludes(const std::string& text, const std::string& path, bool excluded) {
  const auto rules = parser::IgnoreRules::from_text(text);
  CAPTURE(text, path);
  CHECK(rules.diagnostics().empty());
  CHECK(rules.excludes(path) == excluded);
}

}  // namespace

TEST_CASE("dockerignore: the last matching pattern wins", "[parser][dockerignore]") {
  const auto rules = parser::IgnoreRules::from_text("*.log\n!keep.log\n**/node_modules\n");
  auto [path, excluded] = GENERATE(table<std::string, bool>({
      {"debug.log", true},
      {"keep.log", false},
      {"web/node_modules/left-pad/index.js", true},
      {"node_modules", true},
      {"web/src/index.js", false},
      {"logs/debug.log", false},  // `*` does not cross `/`: *.log is top-level only
  }));
  CAPTURE(path);
  CHECK(rules.excludes(path) == excluded);
}

TEST_CASE("dockerignore: patterns and paths are cleaned", "[parser][dockerignore]") {
  const auto rules = parser::IgnoreRules::from_text("/foo\n./bar/\nbaz//qux/../x\n");
  auto [path, excluded] = GENERATE(table<std::string, bool>({
      {"foo", true},
      {"foo/a", true},
      {"bar", true},
      {"bar/x", true},
      {"baz/x", true},
      {"baz/qux/x", false},
      {"a/foo", false},
      {"./foo", true},
      {"/foo/a", true},
      {"foo/", true},
      {".", false},
      {"", false},
  }));
  CAPTURE(path);
  CHECK(rules.excludes(path) == excluded);
}

TEST_CASE("dockerignore: ** at the start, the middle and the end", "[parser][dockerignore]") {
  auto [text, path, excluded] = GENERATE(table<std::string, std::string, bool>({
      {"logs/**", "logs/a", true},
      {"logs/**", "logs/a/b", true},
      {"logs/**", "logs", false},  // everything *below* logs, not logs itself
      {"logs/**", "logsx", false},
      {"a/**/b", "a/b", true},
      {"a/**/b", "a/x/b", true},
      {"a/**/b", "a/x/y/b", true},
      {"a/**/b", "a/b/c", true},
      {"a/**/b", "a/xb", false},
      {"a/**/b", "x/a/b", false},
      {"**", "anything/at/all", true},
      {"**/*.go", "main.go", true},
      {"**/*.go", "a/b/c.go", true},
      {"**/*.go", "a/b/c.goo", false},
      {"**/node_modules/", "x/node_modules/y", true},
      // Docker compares `**name` as a plain suffix, so it also matches "xname".
      {"**foo", "xfoo", true},
      {"**foo", "a/xfoo", true},
      {"**foo", "foox", false},
  }));
  check_excludes(text, path, excluded);
}

TEST_CASE("dockerignore: filepath.Match wildcards, classes and escapes", "[parser][dockerignore]") {
  const auto rules = parser::IgnoreRules::from_text("[abc].txt\n[^a]x\n\\*lit\nfile?.md\n[0-9][0-9]\n");
  REQUIRE(rules.diagnostics().empty());
  auto [path, excluded] = GENERATE(table<std::string, bool>({
      {"a.txt", true},
      {"d.txt", false},
      {"dir/a.txt", false},
      {"bx", true},
      {"ax", false},
      {"*lit", true},
      {"xlit", false},
      {"file1.md", true},
      {"file10.md", false},
      {"file/.md", false},  // `?` never matches `/`
      {"42", true},
      {"4a", false},
      {"héllo", false},
  }));
  CAPTURE(path);
  CHECK(rules.excludes(path) == excluded);
}

TEST_CASE("dockerignore: a pattern matching a parent directory excludes what is below",
          "[parser][dockerignore]") {
  auto [text, path, excluded] = GENERATE(table<std::string, std::string, bool>({
      {"*", "a/b/c", true},
      {"build", "build/x/y", true},
      {"*/tmp", "src/tmp/file", true},
      {"*/tmp", "tmp/file", false},
  }));
  check_excludes(text, path, excluded);
}

TEST_CASE("dockerignore: exceptions re-include paths inside excluded directories",
          "[parser][dockerignore]") {
  auto [text, path, excluded] = GENERATE(table<std::string, std::string, bool>({
      {"build\n!build/keep\n", "build", true},
      {"build\n!build/keep\n", "build/x", true},
      {"build\n!build/keep\n", "build/keep", false},
      {"build\n!build/keep\n", "build/keep/a", false},
      {"*\n!**/*.go\n", "README.md", true},
      {"*\n!**/*.go\n", "main.go", false},
      {"*\n!**/*.go\n", "cmd/app/main.go", false},
      {"*\n!**/*.go\n", "cmd/app/data.json", true},
      {"*\n!**/*.go\n", "cmd", true},
      {"!keep\nkeep\n", "keep", true},  // an exception only undoes earlier patterns
      {"keep\n!keep\n", "keep", false},
      {"a\n!a/b\na/b/c\n", "a/b", false},
      {"a\n!a/b\na/b/c\n", "a/b/c", true},
      {"a\n!a/b\na/b/c\n", "a/b/d", false},
      {"docs\n! docs/README.md\n", "docs/README.md", false},  // space after `!` is trimmed
      // Docker hands classes to a regexp, where `[^x]` also matches `/`.
      {"*\n!a[^x]b\n", "a/b", false},
  }));
  check_excludes(text, path, excluded);
}

TEST_CASE("dockerignore: a walker learns which excluded directories to enter",
          "[parser][dockerignore]") {
  auto [text, dir, must_walk] = GENERATE(table<std::string, std::string, bool>({
      {"docs\n", "docs", false},  // no exceptions: skip the whole subtree
      {"build\n!build/keep\n", "build", true},
      {"build\n!build/keep\n", "build/other", false},
      {"*\n!**/*.go\n", "cmd", true},
      {"*\n!**/*.go\n", "cmd/app/internal", true},
      {"*\n!src/*.c\n", "src", true},
      {"*\n!src/*.c\n", "docs", false},
      {"*\n!src/*.c\n", "src/sub", false},
      {"*\n!src/*.c\n", "src/sub.c", true},  // src/sub.c/x is re-included via its parent
      {"*\n!*/keep\n", "any", true},
      {"*\n!*/keep\n", "any/deeper", false},
      {"*\n!a/**/z\n", "a/b/c/d", true},
      {"*\n!a/**/z\n", "b", false},
      {"*\n!keep\n", "keep", true},
      {"*\n!a[^x]b\n", "a", true},  // the class can match the `/` after "a"
  }));
  const auto rules = parser::IgnoreRules::from_text(text);
  CAPTURE(text, dir);
  CHECK(rules.may_include_below(dir) == must_walk);
}

TEST_CASE("dockerignore: walking with may_include_below finds every included file",
          "[parser][dockerignore]") {
  // A small tree walked as a builder would: skip an excluded directory unless
  // may_include_below says otherwise, and ask excludes() for every entry inside.
  const std::vector<std::string> files = {
      "Dockerfile", "README.md", "src/main.go", "src/util/strings.go", "src/util/notes.txt",
      "vendor/lib/lib.go", "vendor/lib/LICENSE", "build/out.bin", "build/keep/me.txt"};
  const auto rules = parser::IgnoreRules::from_text("*\n!Dockerfile\n!**/*.go\n!build/keep\nvendor\n");
  auto dir_skipped = [&](const std::string& file) {
    for (size_t slash = file.find('/'); slash != std::string::npos; slash = file.find('/', slash + 1)) {
      std::string dir = file.substr(0, slash);
      if (rules.excludes(dir) && !rules.may_include_below(dir)) return true;
    }
    return false;
  };
  std::vector<std::string> sent;
  for (const auto& f : files)
    if (!dir_skipped(f) && !rules.excludes(f)) sent.push_back(f);
  CHECK(sent == std::vector<std::string>{"Dockerfile", "src/main.go", "src/util/strings.go",
                                         "build/keep/me.txt"});
}

TEST_CASE("dockerignore: comments, blank lines, BOM and CRLF", "[parser][dockerignore]") {
  const std::string text =
      "\xEF\xBB\xBF"
      "foo\r\n"
      "# comment\r\n"
      "   \r\n"
      "  # not a comment\n"
      "\\#hash\n"
      "bar \t\n";
  const auto rules = parser::IgnoreRules::from_text(text);
  REQUIRE(rules.diagnostics().empty());
  auto [path, excluded] = GENERATE(table<std::string, bool>({
      {"foo", true},
      {"# comment", false},
      {"# not a comment", true},
      {"#hash", true},
      {"bar", true},
  }));
  CAPTURE(path);
  CHECK(rules.excludes(path) == excluded);
  CHECK(rules.patterns().size() == 4);
}

TEST_CASE("dockerignore: bad patterns become diagnostics naming their line",
          "[parser][dockerignore]") {
  const auto rules =
      parser::IgnoreRules::from_text("ok\n[a\n!\nb\\\n[]x\n[z-]\n  \n!good\n", "app.Dockerfile.dockerignore");
  REQUIRE(rules.diagnostics().size() == 5);
  auto [index, line, message] = GENERATE(table<size_t, int, std::string>({
      {0, 2, "bad pattern \"[a\": unterminated character class"},
      {1, 3, "illegal exclusion pattern: \"!\""},
      {2, 4, "bad pattern \"b\\\": trailing '\\'"},
      {3, 5, "bad pattern \"[]x\": misplaced ']' in character class"},
      {4, 6, "bad pattern \"[z-]\": misplaced ']' in character class"},
  }));
  const auto& d = rules.diagnostics()[index];
  CHECK(d.is_error());
  CHECK(d.file == "app.Dockerfile.dockerignore");
  CHECK(d.line == line);
  CHECK(d.message == message);
  // The usable lines still apply.
  REQUIRE(rules.patterns().size() == 2);
  CHECK(rules.excludes("ok"));
  CHECK_FALSE(rules.excludes("good"));
  CHECK(parser::format_headline(rules.diagnostics()[0]) ==
        "app.Dockerfile.dockerignore:2: bad pattern \"[a\": unterminated character class");
}

TEST_CASE("dockerignore: clean_path is Go's filepath.Clean", "[parser][dockerignore]") {
  auto [in, out] = GENERATE(table<std::string, std::string>({
      {"", "."},
      {"a//b", "a/b"},
      {"./a/", "a"},
      {"a/../..", ".."},
      {"../../x", "../../x"},
      {"/../a", "/a"},
      {"/", "/"},
      {"a/./b/../c", "a/c"},
  }));
  CAPTURE(in);
  CHECK(parser::clean_path(in) == out);
}

TEST_CASE("dockerignore: the Dockerfile's own ignore file comes first", "[parser][dockerignore]") {
  using V = std::vector<std::string>;
  auto [context, dockerfile, candidates] = GENERATE(table<std::string, std::string, V>({
      {"ctx", "ctx/Dockerfile", V{"ctx/Dockerfile.dockerignore", "ctx/.dockerignore"}},
      {"ctx/", "docker/app.Dockerfile", V{"docker/app.Dockerfile.dockerignore", "ctx/.dockerignore"}},
      {"ctx", "-", V{"ctx/.dockerignore"}},
      {"", "", V{"./.dockerignore"}},
  }));
  CAPTURE(context, dockerfile);
  CHECK(parser::ignore_file_candidates(context, dockerfile) == candidates);
}

namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * size_t(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("dockerignore: a pattern of 10,000 `**/` does not overflow the stack",
          "[parser][dockerignore]") {
  // may_include_below used to recurse once per segment; this pattern crashed it.
  const std::string deep = repeat("**/", 10000);
  const auto rules = parser::IgnoreRules::from_text("*\n!" + deep + "keep.txt\n!" + deep + "\n");
  REQUIRE(rules.diagnostics().empty());
  auto [path, may_below, excluded] = GENERATE(table<std::string, bool, bool>({
      {"a", true, false},
      {"a/b/c", true, false},
      {"a/b/keep.txt", true, false},
  }));
  CAPTURE(path);
  CHECK(rules.may_include_below(path) == may_below);
  CHECK(rules.excludes(path) == excluded);

  const auto only_keep = parser::IgnoreRules::from_text("*\n!" + deep + "keep.txt\n");
  CHECK(only_keep.may_include_below("a/b"));
  CHECK(only_keep.excludes("a/b/other.txt"));
  CHECK_FALSE(only_keep.excludes("a/b/keep.txt"));
  const auto anchored = parser::IgnoreRules::from_text("*\n!x/" + deep + "keep.txt\n");
  CHECK(anchored.may_include_below("x/y/z"));
  CHECK_FALSE(anchored.may_include_below("y"));
}

TEST_CASE("dockerignore: exceptions naming .. re-include nothing outside the context",
          "[parser][dockerignore]") {
  // `..` cannot climb from the context root: `/../etc` cleans to `etc` (Go's Clean), a
  // path inside the context; `../x` keeps its `..` and matches no context path.
  const auto rules = parser::IgnoreRules::from_text("*\n!../x\n!/../etc\n!../../**\n");
  auto [path, excluded] = GENERATE(table<std::string, bool>({
      {"x", true},
      {"etc", false},
      {"etc/passwd", false},
      {"a/x", true},
      {"a", true},
  }));
  CAPTURE(path);
  CHECK(rules.excludes(path) == excluded);
  CHECK(rules.may_include_below("a/b"));  // `../../**` ends in `**`: answered conservatively
}

TEST_CASE("dockerignore: a 100,000-line file is read and matched", "[parser][dockerignore]") {
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "dir" + std::to_string(i) + "/**/*.tmp\n";
  text += "!dir7/keep.tmp\nbuild\n";
  const auto rules = parser::IgnoreRules::from_text(text);
  REQUIRE(rules.diagnostics().empty());
  REQUIRE(rules.patterns().size() == 100002);
  CHECK(rules.excludes("dir99999/a/b.tmp"));
  CHECK_FALSE(rules.excludes("dir7/keep.tmp"));
  CHECK_FALSE(rules.excludes("dir7/keep.txt"));
  CHECK(rules.excludes("build/x"));
  CHECK(rules.may_include_below("dir7"));
}
