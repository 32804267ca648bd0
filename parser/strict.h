#pragma once
// The checks `docker build` makes on instructions after parsing, and `hoist parse` makes
// only with --strict: parser/commands.h's parse_command on every instruction (flags each
// instruction accepts and their values, the flags hoist refuses, argument counts,
// HEALTHCHECK types and durations, SHELL's JSON form). Stage structure is checked by
// StageGraph::build (parser/stages.h).

#include <string_view>
#include <vector>

#include "parser/ast.h"
#include "parser/diagnostic.h"

namespace parser {

// Every problem in `file`, in order, as Error diagnostics naming `display_name` and the
// instruction's line. Messages follow Docker's wording ("unknown flag: --form (did you mean
// "--from"?)", "WORKDIR requires exactly one argument", "Missing command after HEALTHCHECK
// CMD"). An empty result means a build will accept every instruction's shape.
std::vector<Diagnostic> check_strict(const Dockerfile& file, std::string_view display_name);

// The same checks for one instruction (an ONBUILD trigger, for example).
std::vector<Diagnostic> check_instruction(const Instruction& instruction,
                                          std::string_view display_name);

}  // namespace parser
