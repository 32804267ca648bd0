// libFuzzer target for the Dockerfile parser and everything that reads its output:
// parse, JSON rendering, strict checks, the stage graph, --target resolution, ONBUILD
// triggers and diagnostic formatting. Also checks the parser's invariants on any input.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parser/ast_json.h"
#include "parser/dockerfile.h"
#include "parser/stages.h"
#include "parser/strict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  int previous_end = 0;
  for (const parser::Instruction& in : result.file.instructions) {
    // Instructions come in order, each within the file, and never overlap.
    if (in.line <= previous_end || in.end_line < in.line) __builtin_trap();
    previous_end = in.end_line;
    if (in.cmd == "onbuild") (void)parser::parse_onbuild_trigger(in, result.file.escape, "x");
  }
  for (const parser::Diagnostic& d : result.diagnostics)
    (void)parser::format_with_source(d, text);
  (void)parser::to_json(result.file);
  (void)parser::check_strict(result.file, "Dockerfile");
  parser::StageGraph graph = parser::StageGraph::build(result.file, "Dockerfile");
  (void)graph.resolve_target("");
  for (const parser::Stage& stage : graph.stages) (void)graph.resolve_target(stage.name);
  return 0;
}
