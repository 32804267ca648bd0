#pragma once
// The instructions that only change the image config: ENV, ARG, LABEL, WORKDIR, USER,
// EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER,
// applied as Docker applies them. Each expands its arguments where Docker does
// (parser::expansion_rule), with the stage's ARGs overridden by ENV.

#include <string>
#include <string_view>

#include "builder/stage_executor.h"
#include "layers/error.h"
#include "parser/ast.h"
#include "parser/commands.h"
#include "parser/expand.h"

namespace builder {

bool is_metadata_instruction(std::string_view cmd);

// `s` in upper case (ASCII letters), as Docker prints an instruction's name.
std::string upper(std::string_view s);

// The variables an instruction expands with: the stage's ARGs, overridden by ENV.
parser::Vars expansion_vars(const StageState& state);
// ENV as variables ("K=v" entries of the config).
parser::Vars env_vars(const layers::ContainerConfig& config);
// Sets K=v in an env list, replacing an existing K.
void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value);

// Applies `command` (checked by parser::parse_command) to `state`. Returns the text that
// describes what it did after expansion (for the cache key). InvalidInput with Docker's
// message for what only expansion reveals (an empty ENV name, a bad EXPOSE port).
layers::Result<std::string> apply_metadata(const parser::Command& command, StageState& state,
                                           char escape);

// The history's created_by for a metadata instruction that apply_metadata applied to
// `config`, returning `described`, as BuildKit writes it: ENV, ARG, LABEL and WORKDIR as
// described; CMD and ENTRYPOINT as Go's %q of the resulting argv,
// `CMD ["/bin/sh" "-c" "echo hi"]` (control bytes, quotes and backslashes escaped as Go
// does, other bytes kept); SHELL and VOLUME as Go's %v of the list, `VOLUME [/a /b]`; the
// rest as written.
std::string metadata_history(const parser::Instruction& ins, const layers::ContainerConfig& config,
                             const std::string& described);

}  // namespace builder
