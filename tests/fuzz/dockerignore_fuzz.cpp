// libFuzzer target for parser::IgnoreRules.
// Input: the text of an ignore file, then a NUL byte, then paths, one a line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parser/dockerignore.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  const auto rules = parser::IgnoreRules::from_text(in.substr(0, nul));
  for (const auto& d : rules.diagnostics())
    if (d.line <= 0 || d.message.empty()) std::abort();
  if (nul == std::string_view::npos) return 0;

  std::string_view paths = in.substr(nul + 1);
  while (!paths.empty()) {
    size_t nl = paths.find('\n');
    std::string path(paths.substr(0, nl));
    paths.remove_prefix(nl == std::string_view::npos ? paths.size() : nl + 1);
    if (path.empty()) continue;

    bool excluded = rules.excludes(path);
    // Paths are cleaned first: "./p" and "p/" are "p" (for "/p", "./" would change it).
    if (path[0] != '/' && rules.excludes("./" + path) != excluded) std::abort();
    if (rules.excludes(path + "/") != excluded) std::abort();
    bool walk = rules.may_include_below(path);
    if (!rules.has_exceptions() && walk) std::abort();
    // The walker's promise: an excluded directory it may skip holds nothing included.
    if (excluded && !walk && !path.empty() && parser::clean_path(path) != ".") {
      for (std::string_view child : {"x", "x/y", ".hidden/z", "keep"}) {
        if (!rules.excludes(path + "/" + std::string(child))) std::abort();
      }
    }
  }
  return 0;
}
