#include <unistd.h>

#include <cstdio>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "registry/reference.h"
#include "registry/settings.h"

namespace builder::cli {

layers::Result<int> cmd_pull(const GlobalOptions& global, const std::vector<std::string>& args) {
  ArgParser parser("hoist pull [OPTIONS] NAME[:TAG|@DIGEST]",
                   "Download an image from a registry into the local store.");
  std::string platform_text;
  std::string tls_ca;
  bool quiet = false;
  parser.option("--platform", &platform_text, "OS/ARCH[/VARIANT]",
                "the platform to pull from a multi-platform image (default: this machine's)");
  parser.option("--tls-ca", &tls_ca, "FILE", "also trust the CA certificates in FILE");
  parser.flag("-q,--quiet", &quiet, "print only the image name");
  parser.positionals(1, 1, "NAME");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto reference = registry::Reference::parse(positional[0]);
  if (!reference) return std::move(reference).error();
  std::optional<layers::Platform> platform;
  if (!platform_text.empty()) {
    auto parsed = layers::Platform::parse(platform_text);
    if (!parsed)
      return layers::Error(layers::ErrorKind::Usage, "--platform: " + parsed.error().message());
    platform = *parsed;
  }
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  // The layers are unpacked as they download, as docker pull does, for the first RUN or
  // `hoist run`, but only as root: a non-root pull runs outside the rootless user
  // namespace those unpack in, so it could not give the files their owners (they are
  // unpacked at first use, inside it).
  const bool unpack = ::geteuid() == 0;
  auto pulled = registry::pull_reference({global.insecure_registries, tls_ca, global.debug}, *store, *reference,
                                         platform, quiet ? nullptr : stdout, unpack);
  if (!pulled) return std::move(pulled).error();
  std::printf("%s\n", pulled->name.c_str());
  return 0;
}

}  // namespace builder::cli
