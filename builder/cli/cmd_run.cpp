// hoist run: a container from an image, in the RUN sandbox, with `docker run`'s rules for
// the command, environment, user and working directory. hoist's exit code is the
// container's.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "runtime/container.h"
#include "runtime/layer_dirs.h"
#include "runtime/executor.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/users.h"
#include "layers/blob_store.h"
#include "layers/unique_fd.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

struct RunOptions {
  bool remove = false;
  std::vector<std::string> env_flags, volumes, entrypoints;
  std::string workdir, user, network = "default", name;
};

// A file of the image's merged tree, read from the top-most layer holding it, each layer
// read with every path component resolved inside that layer. (A symlink into another
// layer is not followed: only passwd/group go through here, for HOME; the sandbox itself
// resolves the user against the real merged root.) "" when the tree has no such file.
Result<std::string> read_from_layers(const runtime::LayerView& view, const std::string& rel) {
  if (!view.lookup(rel)) return std::string();
  for (const auto& dir : view.dirs()) {
    layers::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::from_errno("opening layer " + layers::quoted(dir));
    auto text = runtime::read_file_in_root(fd.get(), rel, runtime::kMaxAccountFileBytes);
    if (text) return text;
    if (text.error().kind() != ErrorKind::NotFound) return std::move(text).error();
  }
  return std::string();
}

// The user's passwd home, as Docker sets HOME: "/" when the user has no entry.
Result<std::string> home_of(const runtime::LayerView& view, const std::string& user) {
  auto passwd = read_from_layers(view, "etc/passwd");
  if (!passwd) return std::move(passwd).error();
  auto group = read_from_layers(view, "etc/group");
  if (!group) return std::move(group).error();
  auto resolved = runtime::resolve_user_in(user.empty() ? "0" : user, *passwd, *group, runtime::UserPurpose::Run);
  if (!resolved) return std::move(resolved).error();
  return resolved->home;
}

// Lays out the container's root: an overlay over the unpacked layers with its own upper
// dir, or, where overlayfs cannot be mounted (or HOIST_SNAPSHOTTER=copy), a full copy of
// the image. HOIST_SNAPSHOTTER=overlay where overlayfs cannot be mounted is an error.
Result<void> prepare_root(const layers::Store& store, const layers::Image& image,
                          const runtime::LayerView& view, const std::string& container_dir,
                          runtime::sandbox::SandboxSpec& spec) {
  auto choice = runtime::resolve_snapshotter(std::nullopt);
  if (!choice) return std::move(choice).error();
  auto executor = runtime::choose_run_executor(*choice, container_dir);
  if (!executor) return std::move(executor).error();
  if (executor->kind == runtime::RunExecutor::Kind::Overlay) {
    spec.lower_dirs = view.dirs();
    spec.upper_dir = container_dir + "/upper";
    spec.work_dir = container_dir + "/work";
    for (const auto& dir : {spec.upper_dir, spec.work_dir})
      if (::mkdir(dir.c_str(), 0755) != 0)
        return Error::from_errno("creating " + layers::quoted(dir));
    return {};
  }
  spec.rootfs_dir = container_dir + "/rootfs";
  spec.chroot_only = executor->chroot;
  if (::mkdir(spec.rootfs_dir.c_str(), 0755) != 0)
    return Error::from_errno("creating " + layers::quoted(spec.rootfs_dir));
  return runtime::materialize_rootfs(store, image.manifest.layers, spec.rootfs_dir);
}

std::string now_rfc3339() {
  return layers::format_rfc3339(static_cast<int64_t>(std::time(nullptr)));
}

Result<int> run_container(const GlobalOptions& global, const RunOptions& options,
                          const std::string& image_text, const std::vector<std::string>& args) {
  // Everything the user can get wrong is checked before anything is created.
  auto network = runtime::sandbox::parse_network(options.network);
  if (!network) return std::move(network).error();
  if (!options.workdir.empty() && options.workdir[0] != '/')
    return Error(ErrorKind::InvalidInput, "the working directory " +
                                              layers::quoted(options.workdir) +
                                              " is invalid, it needs to be an absolute path");
  if (!options.name.empty())
    if (auto r = runtime::check_container_name(options.name); !r) return std::move(r).error();
  std::vector<runtime::sandbox::BindMount> binds;
  for (const auto& volume : options.volumes) {
    auto bind = runtime::parse_bind(volume);
    if (!bind) return std::move(bind).error();
    binds.push_back(*bind);
  }
  auto env_overrides = runtime::resolve_env_flags(options.env_flags, [](const std::string& key) {
    const char* value = std::getenv(key.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  });
  if (!env_overrides) return std::move(env_overrides).error();

  auto store = open_store(global);
  if (!store) return std::move(store).error();
  // The unpacked layers stay in use for the whole run: gc must wait.
  auto gc_lock = store->gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error();
  auto descriptor = resolve_image(*store, image_text);
  if (!descriptor) return std::move(descriptor).error();
  auto image = store->load_image(*descriptor);
  if (!image) return std::move(image).error().context("reading image " + image_text);
  const layers::ContainerConfig& config = image->config.config;

  std::optional<std::string> entrypoint;
  if (!options.entrypoints.empty()) entrypoint = options.entrypoints.back();
  auto argv = runtime::container_argv(config, entrypoint, args);
  if (!argv) return std::move(argv).error();

  auto view = runtime::view_of(*store, image->manifest.layers, image->config.diff_ids);
  if (!view) return std::move(view).error().context("unpacking image " + image_text);
  std::string user = options.user.empty() ? config.user : options.user;
  auto home = home_of(*view, user);
  if (!home)
    return std::move(home).error().context("resolving user " +
                                           layers::quoted(user.empty() ? "root" : user));

  // Docker creates a missing host directory for -v.
  for (const auto& bind : binds)
    if (::access(bind.host_path.c_str(), F_OK) != 0)
      if (auto r = layers::make_dirs(bind.host_path); !r)
        return std::move(r).error().context("creating volume");

  auto containers = runtime::ContainerStore::open(store->root());
  if (!containers) return std::move(containers).error();
  runtime::ContainerRecord draft;
  draft.name = options.name;
  draft.image = image_text;
  draft.image_id = image->id().str();
  draft.command = *argv;
  draft.status = runtime::ContainerStatus::Running;
  draft.started = now_rfc3339();
  draft.created = draft.started;
  draft.pid = ::getpid();
  auto container = containers->create(std::move(draft));
  if (!container) return std::move(container).error();
  runtime::ContainerRecord& record = container->record();

  runtime::sandbox::SandboxSpec spec;
  spec.scratch_dir = container->dir();
  spec.argv = *argv;
  spec.hostname = record.short_id();
  spec.env = runtime::container_env(config.env, *env_overrides, spec.hostname, *home);
  spec.cwd = !options.workdir.empty()      ? options.workdir
             : !config.working_dir.empty() ? config.working_dir
                                           : "/";
  spec.user = user;
  spec.network = *network;
  spec.binds = binds;
  // hoist's stdin passes through; a closed one reads as /dev/null.
  spec.stdin_fd = ::fcntl(STDIN_FILENO, F_GETFD) >= 0 ? STDIN_FILENO : -1;
  spec.stdout_fd = STDOUT_FILENO;
  spec.stderr_fd = STDERR_FILENO;
  std::fflush(stdout);

  Result<int> status = Error(ErrorKind::Io, "not started");
  if (auto r = prepare_root(*store, *image, *view, container->dir(), spec); !r)
    status = std::move(r).error().context("preparing the container's root");
  else
    status = runtime::sandbox::run(spec);

  record.finished = now_rfc3339();
  record.pid = 0;
  if (status) {
    record.status = runtime::ContainerStatus::Exited;
    record.exit_code = *status;
  } else if (status.error().kind() == ErrorKind::Cancelled) {
    // The sandbox killed the container (hoist rm -f, or a signal to hoist).
    record.status = runtime::ContainerStatus::Exited;
    record.exit_code = 128 + 9;
  } else {
    // It never ran: Docker keeps such a container as "Created", with exit code 127 for a
    // command that is not there and 126 for one that cannot be run.
    record.status = runtime::ContainerStatus::Created;
    record.exit_code = status.error().kind() == ErrorKind::NotFound ? 127 : 126;
  }
  Result<void> saved;
  if (options.remove)
    saved = containers->remove(record.id);
  else
    saved = containers->save(record);
  if (!status) return std::move(status).error().context("container " + record.short_id());
  if (!saved) return std::move(saved).error();
  return *status;
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
  parser.option("--name", &options.name, "NAME", "name the container");
  parser.stop_at_first_positional();
  parser.positionals(1, -1, "IMAGE [COMMAND] [ARG...]");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  std::vector<std::string> command(positional.begin() + 1, positional.end());
  return run_container(global, options, positional.front(), command);
}

}  // namespace builder::cli
