// Real-world Dockerfiles that `docker build` accepts (tests/data/dockerfiles/): each must
// parse, pass the strict and stage checks, and give exactly the expected instructions.

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "parser/dockerfile.h"
#include "parser/stages.h"
#include "parser/strict.h"
#include "tests/support/files.h"
#include "tests/support/test_env.h"

namespace fs = std::filesystem;

namespace {

fs::path corpus_dir() {
  return fs::path(hoist_test::source_root()) / "tests" / "data" / "dockerfiles";
}

using hoist_test::read_file;

// The instruction words of every file, in order, and how many stages it has.
struct Expected {
  std::string name;
  std::string instructions;
  size_t stages;
};

const std::vector<Expected>& corpus() {
  static const std::vector<Expected> table = {
      {"alpine-official-nginx",
       "from label env env arg arg run copy copy entrypoint expose stopsignal cmd", 1},
      {"args-and-targets", "arg arg from arg label from run from arg run arg from", 4},
      {"bom", "from run", 1},
      {"c-build", "from workdir copy run from copy entrypoint cmd", 2},
      {"copy-link-parents", "from workdir copy copy from copy copy add add", 2},
      {"crlf-windows-line-ends", "from run env cmd", 1},
      {"debian-official", "from run env run run volume workdir copy entrypoint expose cmd", 1},
      {"go-multistage", "arg from workdir run arg run from run arg run user copy expose entrypoint",
       2},
      {"go-scratch", "from workdir copy run from copy copy user entrypoint", 2},
      {"healthcheck-variants", "from healthcheck healthcheck healthcheck", 1},
      {"heredoc-copy-multi", "from copy run entrypoint", 1},
      {"heredoc-scripts", "from run run copy copy run", 1},
      {"java-maven", "from workdir copy run copy run from arg copy expose entrypoint", 2},
      {"json-shell-fallback", "from cmd entrypoint run run volume", 1},
      {"legacy-maintainer", "from maintainer run add env env expose cmd", 1},
      {"lowercase-and-comments", "from run workdir copy cmd", 1},
      {"node-multistage",
       "arg from workdir expose from run from run copy run from env user copy copy copy cmd", 4},
      {"node-onbuild", "from run workdir onbuild onbuild onbuild onbuild onbuild cmd", 1},
      {"php-apache", "from run run copy volume", 1},
      {"postgres-like",
       "from run env env env env run volume copy run entrypoint stopsignal expose cmd", 1},
      {"python-official", "from env env run env env run run cmd", 1},
      {"python-venv", "from env run env copy run from copy env workdir copy user healthcheck cmd",
       2},
      {"ruby-rails",
       "arg from workdir env from run copy run copy run from copy copy run user entrypoint expose "
       "cmd",
       3},
      {"rust-cargo-chef",
       "from run workdir from copy run from copy run copy run from workdir copy entrypoint", 4},
      {"secrets-and-ssh", "from run run run run", 1},
      {"windows-escape", "from shell env run copy workdir entrypoint", 1},
      {"windows-escape-env", "from env user run user cmd", 1},
  };
  return table;
}

}  // namespace

TEST_CASE("corpus: every file in tests/data/dockerfiles has a row", "[parser][corpus]") {
  std::set<std::string> named;
  for (const Expected& e : corpus()) named.insert(e.name);
  std::set<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(corpus_dir(), ec))
    if (entry.path().extension() == ".Dockerfile") found.insert(entry.path().stem().string());
  REQUIRE_FALSE(ec);
  CHECK(found == named);
}

TEST_CASE("corpus: real-world Dockerfiles parse to the expected instructions",
          "[parser][corpus]") {
  const Expected& e = GENERATE(from_range(corpus()));
  CAPTURE(e.name);
  std::string text = read_file(corpus_dir() / (e.name + ".Dockerfile"));
  REQUIRE_FALSE(text.empty());
  parser::ParseResult result = parser::parse_dockerfile(text, e.name);
  for (const parser::Diagnostic& d : result.diagnostics) FAIL_CHECK(parser::format_headline(d));
  std::string words;
  for (const parser::Instruction& in : result.file.instructions)
    words += (words.empty() ? "" : " ") + in.cmd;
  CHECK(words == e.instructions);
  // Real Dockerfiles use flags hoist refuses (RUN --mount=type=secret, ...): those are
  // refusals by design (parser::flag_support_table), anything else is a parser bug.
  for (const parser::Diagnostic& d : parser::check_strict(result.file, e.name))
    if (d.message.find(" is not supported by hoist: ") == std::string::npos) FAIL_CHECK(parser::format_headline(d));
  parser::StageGraph graph = parser::StageGraph::build(result.file, e.name);
  for (const parser::Diagnostic& d : graph.diagnostics) FAIL_CHECK(parser::format_headline(d));
  CHECK(graph.stages.size() == e.stages);
  CHECK(graph.resolve_target("").diagnostics.empty());
}

TEST_CASE("corpus: details Docker users rely on", "[parser][corpus]") {
  auto instruction = [](const std::string& name, size_t index) {
    parser::ParseResult r =
        parser::parse_dockerfile(read_file(corpus_dir() / (name + ".Dockerfile")), name);
    REQUIRE(r.file.instructions.size() > index);
    return r.file.instructions[index];
  };
  SECTION("a long set -eux chain is one RUN spanning its lines") {
    parser::Instruction run = instruction("debian-official", 3);
    CHECK(run.line == 9);
    CHECK(run.end_line == 27);
    CHECK(run.args.size() == 1);
    CHECK(run.args[0].starts_with("set -eux; \tsavedAptMark="));
  }
  SECTION("several heredocs on one line, each with its body") {
    parser::Instruction run = instruction("heredoc-scripts", 5);
    REQUIRE(run.heredocs.size() == 2);
    CHECK(run.heredocs[0].content == "I am\nfirst\n");
    CHECK(run.heredocs[1].content == "I am\nsecond\n");
  }
  SECTION("a quoted, chomped delimiter turns expansion off") {
    parser::Instruction copy = instruction("heredoc-scripts", 4);
    REQUIRE(copy.heredocs.size() == 1);
    CHECK(copy.heredocs[0].chomp);
    CHECK_FALSE(copy.heredocs[0].expand);
  }
  SECTION("the backtick escape continues lines and leaves backslashes alone") {
    parser::Instruction run = instruction("windows-escape", 3);
    CHECK(run.line == 7);
    CHECK(run.end_line == 11);
    CHECK(run.args[0].find("C:\\git\\.;") != std::string::npos);
  }
  SECTION("--target finds the stages a target needs") {
    parser::ParseResult r = parser::parse_dockerfile(
        read_file(corpus_dir() / "rust-cargo-chef.Dockerfile"), "rust-cargo-chef");
    parser::StageGraph graph = parser::StageGraph::build(r.file, "rust-cargo-chef");
    std::vector<int> stages = graph.resolve_target("builder").stages;
    CHECK(stages == std::vector<int>{0, 1, 2});
  }
}
