#include "runtime/run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "layers/blob_store.h"
#include "layers/unique_fd.h"
#include "runtime/container.h"
#include "runtime/executor.h"
#include "runtime/layer_dirs.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// Lays out the container's root: an overlay over the unpacked layers with its own upper
// dir, or, where overlayfs cannot be mounted (or HOIST_SNAPSHOTTER=copy), a full copy of
// the image. HOIST_SNAPSHOTTER=overlay where overlayfs cannot be mounted is an error.
Result<void> prepare_root(const layers::Store& store, const layers::Image& image,
                          const LayerView& view, const std::string& container_dir,
                          sandbox::SandboxSpec& spec) {
  auto choice = resolve_snapshotter(std::nullopt);
  if (!choice) return std::move(choice).error();
  auto executor = choose_run_executor(*choice, container_dir);
  if (!executor) return std::move(executor).error();
  if (executor->kind == RunExecutor::Kind::Overlay) {
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
  // Chrooted, nothing can be mounted and no namespace made: a flag that needs either is
  // refused by name, before the image is copied.
  if (spec.chroot_only) {
    const char* flag = !spec.binds.empty()                       ? "-v/--volume"
                       : !spec.step_mounts.empty()               ? "--tmpfs"
                       : spec.read_only_root                     ? "--read-only"
                       : spec.network == sandbox::Network::None ? "--network none"
                                                                 : nullptr;
    if (flag)
      return Error(ErrorKind::Unsupported, std::string(flag) +
                                               " cannot be honoured here: no mount or network "
                                               "namespace can be made (" + executor->description + ")");
  }
  if (::mkdir(spec.rootfs_dir.c_str(), 0755) != 0)
    return Error::from_errno("creating " + layers::quoted(spec.rootfs_dir));
  return materialize_rootfs(store, image.manifest.layers, spec.rootfs_dir);
}

std::string now_rfc3339() {
  return layers::format_rfc3339(static_cast<int64_t>(std::time(nullptr)));
}

}  // namespace

Result<int> run_container(const layers::Store& store, const layers::Image& image,
                          const ContainerRequest& request) {
  // Everything the user can get wrong is checked before anything is created.
  if (!request.workdir.empty() && request.workdir[0] != '/')
    return Error(ErrorKind::InvalidInput, "the working directory " +
                                              layers::quoted(request.workdir) +
                                              " is invalid, it needs to be an absolute path");
  if (!request.name.empty())
    if (auto r = check_container_name(request.name); !r) return std::move(r).error();
  const layers::ContainerConfig& config = image.config.config;
  auto argv = container_argv(config, request.entrypoint, request.args);
  if (!argv) return std::move(argv).error();

  auto view = view_of(store, image.manifest.layers, image.config.diff_ids);
  if (!view) return std::move(view).error().context("unpacking image " + request.image_name);
  std::string user = request.user.empty() ? config.user : request.user;

  // Docker creates a missing host directory for -v.
  for (const auto& bind : request.binds)
    if (::access(bind.host_path.c_str(), F_OK) != 0)
      if (auto r = layers::make_dirs(bind.host_path); !r)
        return std::move(r).error().context("creating volume");

  auto containers = ContainerStore::open(store.root());
  if (!containers) return std::move(containers).error();
  ContainerRecord draft;
  draft.name = request.name;
  draft.image = request.image_name;
  draft.image_id = image.id().str();
  draft.command = *argv;
  draft.status = ContainerStatus::Running;
  draft.started = now_rfc3339();
  draft.created = draft.started;
  draft.pid = ::getpid();
  auto container = containers->create(std::move(draft));
  if (!container) return std::move(container).error();
  ContainerRecord& record = container->record();

  sandbox::SandboxSpec spec;
  spec.scratch_dir = container->dir();
  spec.argv = *argv;
  spec.hostname = record.short_id();
  spec.env = container_env(config.env, request.env, spec.hostname);
  spec.cwd = !request.workdir.empty()      ? request.workdir
             : !config.working_dir.empty() ? config.working_dir
                                           : "/";
  spec.user = user;
  spec.network = request.network;
  spec.binds = request.binds;
  spec.capabilities = request.capabilities;
  spec.read_only_root = request.read_only;
  spec.step_mounts = request.tmpfs;
  spec.stdin_fd = request.stdin_fd;
  spec.stdout_fd = request.stdout_fd;
  spec.stderr_fd = request.stderr_fd;

  Result<int> status = Error(ErrorKind::Io, "not started");
  if (auto r = prepare_root(store, image, *view, container->dir(), spec); !r)
    status = std::move(r).error().context("preparing the container's root");
  else
    status = sandbox::run(spec);

  record.finished = now_rfc3339();
  record.pid = 0;
  if (status) {
    record.status = ContainerStatus::Exited;
    record.exit_code = *status;
  } else if (status.error().kind() == ErrorKind::Cancelled) {
    // The sandbox killed the container (hoist rm -f, or a signal to hoist).
    record.status = ContainerStatus::Exited;
    record.exit_code = 128 + 9;
  } else {
    // It never ran: Docker keeps such a container as "Created", with exit code 127 for a
    // command that is not there and 126 for one that cannot be run.
    record.status = ContainerStatus::Created;
    record.exit_code = status.error().kind() == ErrorKind::NotFound ? 127 : 126;
  }
  Result<void> saved;
  if (request.remove)
    saved = containers->remove(record.id);
  else
    saved = containers->save(record);
  if (!status) return std::move(status).error().context("container " + record.short_id());
  if (!saved) return std::move(saved).error();
  return *status;
}

}  // namespace runtime
