// libFuzzer target for parser::expand_word / expand_words.
// Input: the word, then optional lines NAME=VALUE defining variables. A first byte of
// 0x01 selects the backtick escape character.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parser/expand.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  char escape = '\\';
  if (!in.empty() && in[0] == '\x01') {
    escape = '`';
    in.remove_prefix(1);
  }
  size_t nl = in.find('\n');
  std::string_view word = in.substr(0, nl);
  parser::Vars vars;
  while (nl != std::string_view::npos) {
    in.remove_prefix(nl + 1);
    nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    size_t eq = line.find('=');
    if (eq != std::string_view::npos) vars[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }

  auto one = parser::expand_word(word, vars, escape);
  auto many = parser::expand_words(word, vars, escape);
  // Both read the word the same way: they fail together, with the same message.
  if (one.has_value() != many.has_value()) std::abort();
  if (!one && one.error() != many.error()) std::abort();
  if (!one && one.error().empty()) std::abort();
  // A word with nothing to expand or remove is itself.
  if (word.find_first_of(std::string("$'\"") + escape) == std::string_view::npos && (!one || *one != word))
    std::abort();
  return 0;
}
