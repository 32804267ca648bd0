#pragma once
// A small, strict command-line parser shared by every hoist command, so that `--help`,
// `--flag=value`, `--flag value`, `--` and unknown-flag errors behave the same everywhere.
// Unknown flags fail with ErrorKind::Usage and a "did you mean" hint when one is close.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace builder::cli {

class ArgParser {
 public:
  // `usage` is the synopsis line ("hoist tag SOURCE TARGET"); `summary` one sentence.
  ArgParser(std::string usage, std::string summary);

  // `names` is a comma-separated list of spellings: "-t,--tag". `value_name` shows in help.
  void flag(std::string_view names, bool* out, std::string help);
  void option(std::string_view names, std::string* out, std::string value_name, std::string help);
  void multi(std::string_view names, std::vector<std::string>* out, std::string value_name,
             std::string help);
  // After the first positional argument, everything is positional (for `run IMAGE CMD...`).
  void stop_at_first_positional() { stop_at_positional_ = true; }
  // Positional argument count accepted; checked by parse(). max < 0 means unbounded.
  void positionals(int min, int max, std::string names);

  // Parses `args` (without the command name). Returns the positional arguments.
  layers::Result<std::vector<std::string>> parse(const std::vector<std::string>& args);
  // The start of every command: parses `args` into `positional` and returns nothing when the
  // command should go on; after --help (printed to stdout) it returns 0, on a usage error the
  // error, and the command returns that at once:
  //   if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  std::optional<layers::Result<int>> parse_or_help(const std::vector<std::string>& args,
                                                   std::vector<std::string>& positional);
  bool help_requested() const { return help_requested_; }
  std::string help() const;

 private:
  enum class Kind { Flag, Option, Multi };
  struct Spec {
    std::vector<std::string> names;
    Kind kind;
    void* out;
    std::string value_name;
    std::string help;
  };
  const Spec* find(std::string_view name) const;
  std::string nearest(std::string_view name) const;

  std::string usage_;
  std::string summary_;
  std::vector<Spec> specs_;
  bool stop_at_positional_ = false;
  bool help_requested_ = false;
  int min_pos_ = 0;
  int max_pos_ = -1;
  std::string pos_names_;
};

// The spelling in `candidates` nearest to a mistyped `word`, or "" (parser::nearest's rules).
std::string nearest_name(std::string_view word, const std::vector<std::string>& candidates);

// An image archive is never written to a terminal (docker save refuses too): `save` and
// `build -o type=docker|oci,dest=-` call this before writing to stdout. A Usage error
// "[`who`: ]refusing to write an image archive to a terminal; `instead`" when stdout is one.
layers::Result<void> refuse_archive_to_terminal(std::string_view who, std::string_view instead);

}  // namespace builder::cli
