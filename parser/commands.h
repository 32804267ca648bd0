#pragma once
// Typed instructions: what `docker build` checks after parsing, done once, and the result
// the builder runs. parse_command turns one parsed Instruction into a Command whose flags
// are parsed and checked (BuildKit's `instructions` package: one flag set per instruction,
// values checked once); every caller (`hoist build`, `hoist parse --strict`, `hoist import
// --change`, the ONBUILD triggers of a base image) goes through it, so the same input gets
// the same message everywhere.
//
// A flag or value hoist does not implement is an error here, naming it ("RUN --mount=type=ssh
// is not supported by hoist"), so that it never reaches the builder to be ignored. Values
// that Docker expands with the stage's variables (COPY --from/--chown/--chmod/--exclude,
// every --mount field) stay as written; the builder expands them (parse_mount takes the
// expander, as BuildKit's does).

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parser/ast.h"
#include "parser/diagnostic.h"
#include "parser/expand.h"

namespace parser {

// RUN --network (and the default of `hoist build --network`).
enum class NetworkMode { Default, None, Host };

// One RUN --mount, as BuildKit's Dockerfile frontend reads it.
struct Mount {
  enum class Type { Bind, Cache, Tmpfs, Secret, Ssh };
  enum class Sharing { Shared, Private, Locked };
  Type type = Type::Bind;
  std::string from, source, target, id;
  Sharing sharing = Sharing::Shared;
  bool read_only = true;  // bind, secret, ssh: read-only unless rw; cache, tmpfs: writable unless ro
  bool required = false;  // secret, ssh
  std::optional<int64_t> size_bytes;  // tmpfs
  std::optional<std::string> env;     // secret: also (or only) exported as this variable
  std::optional<uint32_t> mode, uid, gid;  // cache, secret, ssh
};

std::string_view mount_type_name(Mount::Type type);

// Expands one value with the stage's variables (the builder passes expand_word with them).
using WordExpander = std::function<Expanded<std::string>(std::string_view)>;

// Parses one `--mount` value (CSV fields `key=value`, `ro`, `rw`, `required`), expanding
// each value with `expand`. Without an expander (the checks before a build), values that
// hold a `$` are left for the build to check after expansion, and the rest are checked now.
// Messages follow BuildKit's ("unexpected key 'foo' in 'foo=bar'", "unsupported mount type
// \"cahce\"", "mode not allowed for \"bind\" type mounts").
Checked<Mount> parse_mount(std::string_view text, const WordExpander& expand = {});

struct NoFlags {};

struct FromFlags {
  std::optional<std::string> platform;  // as written; expanded with the global ARGs
};

struct RunFlags {
  std::vector<std::string> mounts;     // the --mount values as written (see parse_mount)
  std::optional<NetworkMode> network;  // unset: the build's --network
  bool is_insecure = false;            // --security=insecure (needs `hoist build --allow security.insecure`)
};

struct CopyFlags {
  bool add = false;                              // ADD rather than COPY
  std::optional<std::string> from, chown, chmod;  // as written
  std::optional<std::string> checksum;            // ADD: "sha256:HEX"
  std::vector<std::string> excludes;              // as written
  bool parents = false;                           // COPY --parents
};

struct HealthcheckFlags {
  // Durations in nanoseconds, 0 when not given (Docker's default then applies).
  int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0, start_interval_ns = 0;
  int retries = 0;
};

struct Command {
  Instruction in;  // as parsed: cmd, args, heredocs, line, original
  std::variant<NoFlags, FromFlags, RunFlags, CopyFlags, HealthcheckFlags> flags;
};

struct CommandResult {
  std::optional<Command> command;       // set when diagnostics hold no error
  std::vector<Diagnostic> diagnostics;  // every problem, in order, naming display_name
};

// Checks `instruction` (its flags, their values, its arguments) and types it. Messages
// follow Docker's wording ("unknown flag: --form (did you mean "--from"?)", "WORKDIR
// requires exactly one argument", "Missing command after HEALTHCHECK CMD").
CommandResult parse_command(const Instruction& instruction, std::string_view display_name);

// The parser directives a build honours: `# syntax=` must name the frontend hoist is
// (docker/dockerfile:1, 1.N, 1.N.N), `# check=` only skip=all (hoist runs no build checks).
std::vector<Diagnostic> check_directives(const Dockerfile& file, std::string_view display_name);

// Go's time.ParseDuration, in nanoseconds; nullopt for text Go rejects or out of range.
std::optional<int64_t> parse_go_duration(std::string_view text);

// The README's table: every parser directive, instruction, instruction flag and mount type
// with "supported" or the reason hoist refuses it, in the order of the Dockerfile reference.
// Tests walk it.
struct FlagSupport {
  std::string_view instruction;  // "RUN", or a directive: "# syntax"
  std::string_view flag;         // "--mount=type=cache", "--network=host"; "" for the instruction itself
  bool supported;
  std::string_view why;  // for a refused flag: the reason the error gives
};
std::span<const FlagSupport> flag_support_table();

}  // namespace parser
