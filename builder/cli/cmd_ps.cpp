// hoist ps: the containers of this store, as `docker ps` lists them.

#include <cstdio>
#include <ctime>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "runtime/container.h"

namespace builder::cli {

namespace {

// docker's COMMAND column: the quoted command line, cut to 20 characters with "…".
std::string command_column(const std::vector<std::string>& argv, bool truncate) {
  std::string line;
  for (const auto& word : argv) line += (line.empty() ? "" : " ") + word;
  if (truncate && line.size() > 19) line = line.substr(0, 19) + "…";
  return "\"" + line + "\"";
}

std::string status_column(const runtime::ContainerRecord& c, int64_t now) {
  switch (c.status) {
    case runtime::ContainerStatus::Created:
      return "Created";
    case runtime::ContainerStatus::Dead:
      return "Dead";
    case runtime::ContainerStatus::Running: {
      std::string age = human_age(c.started, now);
      if (age.ends_with(" ago")) age.resize(age.size() - 4);
      return "Up " + age;
    }
    case runtime::ContainerStatus::Exited:
      return "Exited (" + std::to_string(c.exit_code) + ") " + human_age(c.finished, now);
  }
  return "";
}

}  // namespace

layers::Result<int> cmd_ps(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool all = false, quiet = false, no_trunc = false;
  ArgParser parser("hoist ps [OPTIONS]", "List containers: the running ones, or all with -a.");
  parser.flag("-a,--all", &all, "show all containers, not only running ones");
  parser.flag("-q,--quiet", &quiet, "only print container ids");
  parser.flag("--no-trunc", &no_trunc, "do not shorten ids and commands");
  parser.positionals(0, 0, "");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  auto containers = runtime::ContainerStore::open(store->root());
  if (!containers) return std::move(containers).error();
  auto list = containers->list();
  if (!list) return std::move(list).error();
  for (const auto& problem : list->problems)
    std::fprintf(stderr, "hoist: warning: %s\n", problem.c_str());

  int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::vector<std::vector<std::string>> rows;
  if (!quiet) rows.push_back({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"});
  for (const auto& c : list->containers) {
    if (!all && c.status != runtime::ContainerStatus::Running) continue;
    std::string id = no_trunc ? c.id : c.short_id();
    if (quiet) {
      std::printf("%s\n", id.c_str());
      continue;
    }
    rows.push_back({id, c.image, command_column(c.command, !no_trunc), human_age(c.created, now),
                    status_column(c, now), c.name});
  }
  if (!quiet) print_table(rows);
  return 0;
}

}  // namespace builder::cli
