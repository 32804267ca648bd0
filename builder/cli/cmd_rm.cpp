// hoist rm: removes containers (record and writable layer), as `docker rm` does.

#include <cstdio>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "runtime/container.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;

namespace {

layers::Result<void> remove_one(const runtime::ContainerStore& containers, const std::string& text,
                                bool force) {
  auto record = containers.find(text);
  if (!record) return std::move(record).error();
  if (containers.is_running(record->id)) {
    if (!force)
      return Error(ErrorKind::InvalidInput, "cannot remove container " + record->short_id() +
                                                ": it is running; stop it first or use --force");
    if (auto r = containers.stop(*record); !r) return r;
  }
  return containers.remove(record->id);
}

}  // namespace

layers::Result<int> cmd_rm(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool force = false;
  ArgParser parser(
      "hoist rm [OPTIONS] CONTAINER [CONTAINER...]",
      "Remove containers by id (or a unique prefix) or name, with their writable layers.");
  parser.flag("-f,--force", &force, "stop running containers first (their command is killed)");
  parser.positionals(1, -1, "CONTAINER...");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  auto containers = runtime::ContainerStore::open(store->root());
  if (!containers) return std::move(containers).error();

  // Like docker: remove what can be removed, then report everything that could not be.
  std::optional<Error> failure;
  for (const auto& text : positional) {
    if (auto r = remove_one(*containers, text, force); !r) {
      if (!failure)
        failure = r.error();
      else
        failure = Error(failure->kind(), failure->describe() + "; " + r.error().describe());
      continue;
    }
    std::printf("%s\n", text.c_str());
  }
  if (failure) return *failure;
  return 0;
}

}  // namespace builder::cli
