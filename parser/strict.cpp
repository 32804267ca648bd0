#include "parser/strict.h"

#include "parser/commands.h"

namespace parser {

std::vector<Diagnostic> check_instruction(const Instruction& instruction, std::string_view display_name) {
  return parse_command(instruction, display_name).diagnostics;
}

std::vector<Diagnostic> check_strict(const Dockerfile& file, std::string_view display_name) {
  std::vector<Diagnostic> out = check_directives(file, display_name);
  for (const Instruction& in : file.instructions) {
    auto problems = parse_command(in, display_name).diagnostics;
    out.insert(out.end(), problems.begin(), problems.end());
  }
  return out;
}

}  // namespace parser
