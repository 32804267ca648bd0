#pragma once
// Which variables a Dockerfile instruction sees: ARG scoping across stages, the
// --build-arg values, the predefined proxy ARGs, the automatic platform ARGs, and the
// table of which instructions expand which of their arguments. Pure data and rules;
// the builder walks the instructions and asks.
//
// Docker's rules, as modelled here:
//   - The global scope is everything before the first FROM. Its ARGs, and the
//     automatic platform ARGs, are visible only to FROM lines (image and --platform).
//   - Each stage starts with no ARGs. `ARG NAME` inside a stage makes NAME visible
//     from that line on, with the first of: the --build-arg value, the value NAME has
//     in the global scope, the automatic platform value; otherwise NAME is declared but
//     unset. `ARG NAME=default` takes the --build-arg value, else the default.
//   - ENV, including what the base image set, wins over an ARG of the same name.
//   - HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy, FTP_PROXY, ftp_proxy,
//     NO_PROXY, no_proxy, ALL_PROXY and all_proxy given with --build-arg reach RUN
//     without an ARG line, but are not expanded in other instructions, not written to
//     the image history and not part of the build cache key, so a proxy change does not
//     invalidate the cache. Declaring one with ARG makes it an ordinary ARG.
//   - A --build-arg that no ARG in any scope declared is reported as unused (Docker
//     warns); the proxy and platform ARGs never are.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "parser/expand.h"

namespace parser {

// An OCI platform, normalized as containerd does (aarch64 -> arm64, x86_64 -> amd64,
// arm -> arm/v7, arm64/v8 -> arm64).
struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64", "arm64", "arm", "386", ...
  std::string variant;       // "v7", or empty

  // "linux/arm/v7", "linux/amd64".
  std::string to_string() const;
  bool operator==(const Platform&) const = default;
};

// Parses "os/arch[/variant]" (as given to --platform or FROM --platform) and normalizes
// it. Fails with a message naming the text when a part is missing, empty or has
// characters other than letters, digits, `_`, `-` and `.`.
Checked<Platform> parse_platform(std::string_view text);

// The automatic platform ARGs for a build: BUILDPLATFORM, BUILDOS, BUILDARCH,
// BUILDVARIANT, TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT (variants may be
// empty, and are still set).
Vars platform_args(const Platform& target, const Platform& build);

bool is_proxy_arg(std::string_view name);
bool is_platform_arg(std::string_view name);

// The --build-arg values and platforms of one build, shared by all its scopes; it also
// records which build args were consumed.
class BuildArgs {
 public:
  BuildArgs(Vars values, Platform target, Platform build);

  const Vars& values() const { return values_; }
  const Vars& platform() const { return platform_; }
  // Build args that no ARG declared so far, sorted; proxy args are never listed.
  std::vector<std::string> unused() const;

 private:
  friend class ArgScope;
  Vars values_;
  Vars platform_;
  std::set<std::string, std::less<>> used_;
};

// The ARGs visible at one point of a Dockerfile.
class ArgScope {
 public:
  // The scope before the first FROM. `args` must outlive every scope made from it.
  static ArgScope global(BuildArgs& args);

  // The empty scope a stage starts with; it remembers the global scope for `ARG NAME`.
  ArgScope stage() const;

  // Applies `ARG name[=default]`. The caller expands `default_value` (and the name)
  // against vars() of this scope before calling, as Docker does.
  void declare(std::string_view name, std::optional<std::string> default_value);

  bool is_global() const { return global_ == nullptr; }

  // The ARGs with a value, for expansion: in the global scope these include the
  // automatic platform ARGs. Undeclared proxy args are not here.
  Vars vars() const;
  // What an instruction expands with: vars() overridden by `env` (ENV wins).
  Vars with_env(const Vars& env) const;

  // For RUN: ARGs with a value that belong to the step (history, cache key) ...
  Vars run_args() const { return vars(); }
  // ... and the undeclared proxy build args, passed to RUN but kept out of history
  // and the cache key.
  Vars proxy_args() const;

 private:
  ArgScope(BuildArgs* args, std::shared_ptr<const Vars> global) : args_(args), global_(std::move(global)) {}

  BuildArgs* args_;
  std::shared_ptr<const Vars> global_;  // null for the global scope itself
  Vars declared_;                       // declared names with a value
  std::set<std::string, std::less<>> declared_unset_;
};

// How an instruction's arguments are expanded.
enum class ArgumentExpansion {
  None,           // RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER, ONBUILD
  EachWord,       // every argument to one word (expand_word): ADD, COPY, FROM, USER,
                  // WORKDIR, STOPSIGNAL, VOLUME
  SplitWords,     // every argument may become several words (expand_words): EXPOSE
  KeysAndValues,  // both sides of each `key=value` (expand_word): ENV, LABEL, ARG
};

struct ExpansionRule {
  bool is_known = false;
  ArgumentExpansion arguments = ArgumentExpansion::None;
  // Flags whose values are expanded, without the dashes: "chown", "platform", ...
  std::vector<std::string_view> flags;
  // FROM: expanded with the global scope only, never a stage's ARGs or ENV.
  bool uses_global_scope = false;
};

// The rule for an instruction, by its lower-case name ("copy"); an unknown name gets
// is_known == false. ONBUILD's trigger is expanded when it runs in the child build,
// by the triggered instruction's own rule; FROM's `AS name` is never expanded.
ExpansionRule expansion_rule(std::string_view instruction);

}  // namespace parser
