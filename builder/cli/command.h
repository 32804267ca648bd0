#pragma once
// The hoist command table. Each command lives in its own file (builder/cli/cmd_NAME.cpp),
// parses its own flags with ArgParser, and returns the process exit code or an Error.
// Only main.cpp prints errors and picks exit codes: 0 ok, 1 failure (or the command's
// error_exit), 2 usage (an Error of kind Usage). A command that runs a container returns
// the container's code.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace builder::cli {

struct GlobalOptions {
  std::string root;  // --root or $HOIST_ROOT; empty means the default store location
  bool debug = false;
  std::vector<std::string> insecure_registries;  // --insecure-registry HOST
};

// What a non-root user's command needs of rootless hoist's user namespace
// (runtime/rootless.h), entered before the command runs.
enum class Rootless {
  Required,   // runs containers (build, run): refused, naming what is missing, without it
  Preferred,  // uses the store: entered when possible (the store may hold files owned by
              // subordinate ids), else the command runs as the plain user (said with --debug)
  None,       // touches no store (version, parse, login, logout)
};

struct Command {
  std::string_view name;
  std::string_view summary;
  layers::Result<int> (*run)(const GlobalOptions& global, const std::vector<std::string>& args);
  int error_exit = 1;  // the exit code of a failure (diff, like diff(1), says 1 for "differ")
  Rootless rootless = Rootless::Preferred;
};

// Every command, in the order `hoist --help` lists them.
std::span<const Command> commands();

// One declaration per command file.
layers::Result<int> cmd_version(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_parse(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_pull(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_push(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_login(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_logout(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_images(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_inspect(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_tag(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_rmi(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_prune(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_history(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_import(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_fsck(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_save(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_load(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_build(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_run(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_ps(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_rm(const GlobalOptions&, const std::vector<std::string>&);
layers::Result<int> cmd_diff(const GlobalOptions&, const std::vector<std::string>&);

}  // namespace builder::cli
