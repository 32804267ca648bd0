#include "builder/import_changes.h"

#include <array>
#include <string_view>

#include "builder/metadata.h"
#include "builder/stage_executor.h"
#include "parser/build_args.h"
#include "parser/dockerfile.h"
#include "parser/commands.h"

namespace builder {
namespace {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

// moby's validCommitCommands.
constexpr std::array<std::string_view, 11> kChangeCommands = {
    "cmd",     "entrypoint", "env",  "expose", "healthcheck", "label",
    "onbuild", "stopsignal", "user", "volume", "workdir"};

bool is_change_command(std::string_view cmd) {
  for (auto c : kChangeCommands)
    if (c == cmd) return true;
  return false;
}

Result<void> apply_one(const std::string& line, StageState& state) {
  auto parsed = parser::parse_dockerfile(line, "--change");
  for (const auto& d : parsed.diagnostics)
    if (d.is_error())
      return Error(ErrorKind::InvalidInput,
                   d.message + (d.hint.empty() ? "" : " (" + d.hint + ")"));
  if (parsed.file.instructions.size() != 1)
    return Error(ErrorKind::InvalidInput, "want exactly one instruction");
  const parser::Instruction& ins = parsed.file.instructions.front();
  if (!is_change_command(ins.cmd))
    return Error(ErrorKind::InvalidInput,
                 upper(ins.cmd) +
                     " is not a valid change command (valid: CMD ENTRYPOINT ENV "
                     "EXPOSE HEALTHCHECK LABEL ONBUILD STOPSIGNAL USER VOLUME WORKDIR)");
  auto command = parser::parse_command(ins, "--change");
  for (const auto& d : command.diagnostics)
    if (d.is_error())
      return Error(ErrorKind::InvalidInput,
                   d.message + (d.hint.empty() ? "" : " (" + d.hint + ")"));
  auto applied = apply_metadata(*command.command, state, parsed.file.escape);
  if (!applied) return std::move(applied).error();
  return {};
}

}  // namespace

Result<void> apply_import_changes(const std::vector<std::string>& lines,
                                  layers::ImageConfig& config) {
  // No build args: a change line expands with the ENV set so far only.
  parser::BuildArgs no_args({}, {}, {});
  const parser::ArgScope global = parser::ArgScope::global(no_args);
  StageState state{config, {}, global.stage(), layers::Digest::of(""), false};
  for (const auto& line : lines)
    if (auto r = apply_one(line, state); !r)
      return std::move(r).error().context("--change " + layers::quoted(line));
  config = std::move(state.config);
  return {};
}

}  // namespace builder
