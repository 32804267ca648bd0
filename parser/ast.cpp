#include "parser/ast.h"

namespace parser {

std::string_view flag_name(std::string_view flag) {
  if (flag.starts_with("--")) flag.remove_prefix(2);
  return flag.substr(0, flag.find('='));
}

std::vector<std::string> flag_values(const Instruction& instruction, std::string_view name) {
  std::vector<std::string> values;
  for (const std::string& flag : instruction.flags) {
    if (flag_name(flag) != name) continue;
    size_t eq = flag.find('=');
    values.push_back(eq == std::string::npos ? std::string() : flag.substr(eq + 1));
  }
  return values;
}

std::optional<std::string> flag_value(const Instruction& instruction, std::string_view name) {
  std::vector<std::string> values = flag_values(instruction, name);
  if (values.empty()) return std::nullopt;
  return values.back();
}

}  // namespace parser
