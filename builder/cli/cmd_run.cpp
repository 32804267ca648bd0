// hoist run: a container from an image, in the RUN sandbox, with `docker run`'s rules for
// the command, environment, user and working directory. hoist's exit code is the
// container's.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "runtime/capabilities.h"
#include "runtime/container.h"
#include "runtime/run.h"
#include "runtime/sandbox/sandbox.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

struct RunOptions {
  bool remove = false;
  std::vector<std::string> env_flags, volumes, tmpfs, entrypoints, cap_adds, cap_drops;
  bool read_only = false;
  std::string workdir, user, network = "default", name;
  std::string pull = "missing";  // --pull missing|always|never
};

// The image to run, as docker run finds it: `--pull missing` pulls it when the store has no
// such image ("Unable to find image 'X' locally", the pull's progress on stderr), `always`
// pulls first, `never` only looks. A text that is no reference (an id prefix) is only looked up.
Result<layers::Descriptor> find_or_pull(const GlobalOptions& global, layers::Store& store,
                                        const std::string& text, const std::string& pull) {
  auto local = resolve_image(store, text);
  if (pull == "never" || (pull == "missing" && (local || local.error().kind() != ErrorKind::NotFound)))
    return local;
  auto reference = registry::Reference::parse(text);
  if (!reference) return local ? local : std::move(reference).error();
  if (!local) std::fprintf(stderr, "Unable to find image '%s' locally\n", reference->familiar().c_str());
  auto pulled = registry::pull_reference({global.insecure_registries, "", global.debug}, store, *reference,
                                         std::nullopt, stderr, /*unpack=*/true);
  if (!pulled) return std::move(pulled).error();
  return pulled->image;
}

Result<int> run_container(const GlobalOptions& global, const RunOptions& options,
                          const std::string& image_text, const std::vector<std::string>& args) {
  // Everything the user can get wrong is checked before the store is touched.
  runtime::ContainerRequest request;
  auto network = runtime::sandbox::parse_network(options.network);
  if (!network) return std::move(network).error();
  request.network = *network;
  for (const auto& volume : options.volumes) {
    auto bind = runtime::parse_bind(volume);
    if (!bind) return std::move(bind).error();
    request.binds.push_back(*bind);
  }
  for (const auto& text : options.tmpfs) {
    auto mount = runtime::parse_tmpfs(text);
    if (!mount) return std::move(mount).error();
    request.tmpfs.push_back(*mount);
  }
  auto capabilities = runtime::resolve_capabilities(options.cap_adds, options.cap_drops);
  if (!capabilities) return std::move(capabilities).error();
  request.capabilities = *capabilities;
  request.read_only = options.read_only;
  auto env = runtime::resolve_env_flags(options.env_flags, [](const std::string& key) {
    const char* value = std::getenv(key.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  });
  if (!env) return std::move(env).error();
  request.env = std::move(*env);
  if (!options.entrypoints.empty()) request.entrypoint = options.entrypoints.back();
  request.image_name = image_text;
  request.args = args;
  request.workdir = options.workdir;
  request.user = options.user;
  request.name = options.name;
  request.remove = options.remove;
  // hoist's stdin passes through; a closed one reads as /dev/null.
  request.stdin_fd = ::fcntl(STDIN_FILENO, F_GETFD) >= 0 ? STDIN_FILENO : -1;
  request.stdout_fd = STDOUT_FILENO;
  request.stderr_fd = STDERR_FILENO;

  auto store = open_store(global);
  if (!store) return std::move(store).error();
  // The unpacked layers stay in use for the whole run: gc must wait.
  auto gc_lock = store->gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error();
  auto descriptor = find_or_pull(global, *store, image_text, options.pull);
  if (!descriptor) return std::move(descriptor).error();
  auto image = store->load_image(*descriptor);
  if (!image) return std::move(image).error().context("reading image " + image_text);
  std::fflush(stdout);
  return runtime::run_container(*store, *image, request);
}

}  // namespace

layers::Result<int> cmd_run(const GlobalOptions& global, const std::vector<std::string>& args) {
  RunOptions options;
  ArgParser parser(
      "hoist run [OPTIONS] IMAGE [COMMAND] [ARG...]",
      "Run a command in a new container. hoist's exit code is the command's. The "
      "container's writable layer is kept (see 'hoist ps -a', 'hoist rm') unless --rm.");
  parser.flag("--rm", &options.remove, "remove the container when it exits");
  parser.multi("-e,--env", &options.env_flags, "KEY=VALUE",
               "set an environment variable (KEY alone: hoist's own value)");
  parser.option("-w,--workdir", &options.workdir, "DIR",
                "working directory (created when missing)");
  parser.option("-u,--user", &options.user, "USER[:GROUP]", "user name or uid, group name or gid");
  parser.multi("--entrypoint", &options.entrypoints, "CMD",
               "replace the image's Entrypoint (and drop its Cmd); \"\" for none");
  parser.option("--network,--net", &options.network, "default|host|none",
                "default: a network namespace of its own, outbound through slirp4netns; "
                "host: the host's; none: only loopback");
  parser.multi("-v,--volume", &options.volumes, "HOST:CTR[:ro]", "bind-mount a host path");
  parser.multi("--tmpfs", &options.tmpfs, "PATH[:OPTIONS]",
               "mount a fresh tmpfs (noexec, nosuid, nodev unless OPTIONS: rw, ro, exec, size=N[k|m|g])");
  parser.multi("--cap-add", &options.cap_adds, "CAP",
               "add a capability to Docker's default set (repeatable, or a comma list)");
  parser.multi("--cap-drop", &options.cap_drops, "CAP",
               "drop a capability from the default set (ALL: keep only --cap-add's)");
  parser.flag("--read-only", &options.read_only,
              "mount the container's root read-only (volumes keep their own mode)");
  parser.option("--name", &options.name, "NAME", "name the container");
  parser.option("--pull", &options.pull, "missing|always|never",
                "pull the image before running: when the store lacks it (default), always, or never");
  parser.stop_at_first_positional();
  parser.positionals(1, -1, "IMAGE [COMMAND] [ARG...]");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  if (options.pull != "missing" && options.pull != "always" && options.pull != "never")
    return Error(ErrorKind::Usage, "--pull " + options.pull + ": want missing, always or never");
  std::vector<std::string> command(positional.begin() + 1, positional.end());
  return run_container(global, options, positional.front(), command);
}

}  // namespace builder::cli
