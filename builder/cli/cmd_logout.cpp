#include <cstdio>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "registry/credentials.h"

namespace builder::cli {

layers::Result<int> cmd_logout(const GlobalOptions&, const std::vector<std::string>& args) {
  ArgParser parser("hoist logout [REGISTRY]", "Remove the stored credentials for a registry.");
  parser.positionals(0, 1, "REGISTRY");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  const std::string host =
      positional.empty() ? "docker.io" : registry::login_host(positional[0]);
  auto config = registry::DockerConfig::load();
  if (!config) return std::move(config).error();
  // One line, as docker logout: what was removed, or that there was nothing to remove.
  const std::string key = registry::credential_key(host);
  auto r = config->erase(host);
  if (!r && r.error().kind() != layers::ErrorKind::NotFound) return std::move(r).error();
  std::printf(r ? "Removing login credentials for %s\n" : "Not logged in to %s\n", key.c_str());
  return 0;
}

}  // namespace builder::cli
