// Golden files pin the parser. Each folder of testdata/ holds a Dockerfile and ast.json,
// exactly what `hoist parse --json` prints for it; each folder of testdata-errors/ holds a
// Dockerfile and error.txt, what `hoist parse --strict` prints after "hoist: error: "
// (syntax errors first; only a file without them gets the strict and stage checks).
// A new case is two new files. HOIST_UPDATE_GOLDEN=1 rewrites the expected files from
// the current output; review the diff before committing it.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parser/ast_json.h"
#include "parser/dockerfile.h"
#include "parser/stages.h"
#include "parser/strict.h"
#include "tests/support/files.h"
#include "tests/support/test_env.h"

namespace fs = std::filesystem;

namespace {

fs::path testdata_root() {
  return fs::path(hoist_test::source_root()) / "tests" / "parser";
}

using hoist_test::read_file;

std::vector<fs::path> case_dirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory() && fs::exists(entry.path() / "Dockerfile")) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string errors_of(const std::string& text) {
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  std::vector<parser::Diagnostic> diagnostics = result.diagnostics;
  if (!parser::has_errors(diagnostics)) {
    for (auto& d : parser::check_strict(result.file, "Dockerfile")) diagnostics.push_back(d);
    for (auto& d : parser::StageGraph::build(result.file, "Dockerfile").diagnostics)
      diagnostics.push_back(d);
  }
  std::string out;
  for (const parser::Diagnostic& d : diagnostics)
    if (d.is_error()) out += parser::format_with_source(d, text) + "\n";
  return out;
}

void check_golden(const fs::path& expected_file, const std::string& got) {
  if (std::getenv("HOIST_UPDATE_GOLDEN")) {
    std::ofstream(expected_file, std::ios::binary) << got;
    return;
  }
  REQUIRE(fs::exists(expected_file));
  CHECK(read_file(expected_file) == got);
}

}  // namespace

TEST_CASE("golden: every testdata case parses to its ast.json", "[parser][golden]") {
  std::vector<fs::path> cases = case_dirs(testdata_root() / "testdata");
  REQUIRE(cases.size() >= 10);
  for (const fs::path& dir : cases) {
    CAPTURE(dir.filename().string());
    std::string text = read_file(dir / "Dockerfile");
    parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
    CHECK_FALSE(parser::has_errors(result.diagnostics));
    check_golden(dir / "ast.json", parser::to_json(result.file));
  }
}

TEST_CASE("golden: every testdata-errors case fails with its error.txt", "[parser][golden]") {
  std::vector<fs::path> cases = case_dirs(testdata_root() / "testdata-errors");
  REQUIRE(cases.size() >= 8);
  for (const fs::path& dir : cases) {
    CAPTURE(dir.filename().string());
    std::string got = errors_of(read_file(dir / "Dockerfile"));
    CHECK_FALSE(got.empty());
    check_golden(dir / "error.txt", got);
  }
}
