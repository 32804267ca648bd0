#include "runtime/sandbox/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layers/overlay_xattr.h"
#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;
using layers::UniqueFd;

MountGuard::~MountGuard() {
  if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
}

namespace {

Result<void> do_mount(const char* source, const std::string& target, const char* type,
                      unsigned long flags, const char* data, std::string_view what) {
  if (::mount(source, target.c_str(), type, flags, data) != 0)
    return Error::from_errno(std::string(what) + " at " + quoted(target));
  return {};
}

// The kernel explains a refused fsconfig in the fs context's log; the errno alone
// ("Invalid argument") rarely says which layer was wrong.
std::string fs_context_log(int fs_fd) {
  std::string out;
  char buf[512];
  while (true) {
    ssize_t n = ::read(fs_fd, buf, sizeof buf);
    if (n <= 0) break;
    std::string line(buf, size_t(n));
    if (line.size() > 2 && line[1] == ' ') line.erase(0, 2);  // "e overlayfs: ..."
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

Result<void> mount_overlay_new_api(const OverlayLayers& layers, const std::string& target,
                                   bool* lowerdir_plus_unsupported) {
  UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) {
    if (errno == ENOSYS) *lowerdir_plus_unsupported = true;
    return Error::from_errno("fsopen overlay");
  }
  auto set = [&](const char* key, const std::string& value) -> Result<void> {
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0) return {};
    int err = errno;
    std::string log = fs_context_log(fs.get());
    return Error::from_errno(err, std::string("overlay option ") + key + "=" + quoted(value) +
                                      (log.empty() ? "" : " (" + log + ")"));
  };
  for (size_t i = 0; i < layers.lower_dirs.size(); ++i) {
    if (auto r = set("lowerdir+", layers.lower_dirs[i]); !r) {
      if (i == 0 && r.error().sys_errno() == EINVAL) *lowerdir_plus_unsupported = true;
      return r;
    }
  }
  if (!layers.upper_dir.empty()) {
    if (auto r = set("upperdir", layers.upper_dir); !r) return r;
    if (auto r = set("workdir", layers.work_dir); !r) return r;
  }
  // Rootless (layers/overlay_xattr.h): bookkeeping in user.overlay.*, where redirects are
  // never followed ("off" would still follow them).
  const bool userxattr = !layers::in_initial_user_namespace();
  if (userxattr && ::fsconfig(fs.get(), FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) != 0)
    return Error::from_errno("overlay option userxattr (" + fs_context_log(fs.get()) + ")");
  if (auto r = set("redirect_dir", userxattr ? "nofollow" : "off"); !r) return r;
  for (const char* key : {"metacopy", "index"}) {
    if (auto r = set(key, "off"); !r) return r;
  }
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    std::string log = fs_context_log(fs.get());
    return Error::from_errno(err, "creating the overlay" + (log.empty() ? "" : " (" + log + ")"));
  }
  // nodev: a device node in the image (or one mknod makes) cannot be opened (see mount_dev).
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV));
  if (!mnt) return Error::from_errno("fsmount overlay");
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return Error::from_errno("attaching the overlay at " + quoted(target));
  return {};
}

Result<void> mount_overlay_legacy(const OverlayLayers& layers, const std::string& target) {
  std::string lower;
  for (const auto& dir : layers.lower_dirs) {
    if (dir.find_first_of(",:\\") != std::string::npos) {
      return Error(ErrorKind::Unsupported,
                   "overlay layer path " + quoted(dir) + " holds ',' ':' or '\\', which this "
                   "kernel's mount options cannot express");
    }
    if (!lower.empty()) lower += ':';
    lower += dir;
  }
  std::string options = "lowerdir=" + lower;
  if (!layers.upper_dir.empty())
    options += ",upperdir=" + layers.upper_dir + ",workdir=" + layers.work_dir;
  options += layers::in_initial_user_namespace() ? ",redirect_dir=off,metacopy=off,index=off"
                                                  : ",userxattr,redirect_dir=nofollow,metacopy=off,index=off";
  if (options.size() >= size_t(::getpagesize())) {
    return Error(ErrorKind::Unsupported, "overlay options for " +
                                             std::to_string(layers.lower_dirs.size()) +
                                             " layers exceed one page on this kernel");
  }
  return do_mount("overlay", target, "overlay", MS_NODEV, options.c_str(), "mounting the overlay");
}

}  // namespace

Result<void> make_mounts_private() {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) return {};
  const int err = errno;
  // Under a plain chroot, "/" is a directory inside the host's mount, not a mount of its
  // own: its propagation cannot be changed, so mounts made here would reach the host's
  // namespace, and pivot_root would refuse it anyway. Said plainly, as the probes report it.
  struct statx st {};
  if (err == EINVAL && ::statx(AT_FDCWD, "/", 0, STATX_BASIC_STATS, &st) == 0 &&
      (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
      !(st.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return Error(ErrorKind::Unsupported,
                 "\"/\" is not a mount point (a plain chroot?): its mounts cannot be made "
                 "private, so the namespace sandbox cannot run here");
  errno = err;
  return Error::from_errno("making mounts private at \"/\"");
}

Result<MountGuard> mount_overlay(const OverlayLayers& layers, const std::string& target) {
  if (layers.lower_dirs.empty())
    return Error(ErrorKind::InvalidInput, "an overlay needs at least one lower dir");
  bool use_legacy = false;
  auto r = mount_overlay_new_api(layers, target, &use_legacy);
  if (!r && use_legacy) r = mount_overlay_legacy(layers, target);
  if (!r) return std::move(r).error();
  return MountGuard(target);
}

Result<void> bind_root_onto_itself(const std::string& root) {
  if (auto r = do_mount(root.c_str(), root, nullptr, MS_BIND | MS_REC, nullptr,
                        "binding the root onto itself");
      !r)
    return r;
  return set_nodev_recursive(root);
}

Result<void> set_nodev_recursive(const std::string& target) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_NODEV;
  if (::mount_setattr(AT_FDCWD, target.c_str(), AT_RECURSIVE, &attr, sizeof attr) != 0)
    return Error::from_errno("making " + quoted(target) + " nodev");
  return {};
}

Result<void> set_read_only(const std::string& target) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (::mount_setattr(AT_FDCWD, target.c_str(), 0, &attr, sizeof attr) != 0)
    return Error::from_errno("making " + quoted(target) + " read-only");
  return {};
}

Result<void> mount_proc(const std::string& root, bool privileged) {
  const std::string proc = root + "/proc";
  constexpr unsigned long kLocked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (auto r = do_mount("proc", proc, "proc", kLocked, nullptr, "mounting /proc"); !r) return r;
  if (privileged) return {};

  // What Docker hides: files get /dev/null over them, directories an empty read-only tmpfs.
  for (const char* masked : {"asound", "acpi", "kcore", "keys", "latency_stats", "timer_list",
                             "timer_stats", "sched_debug", "scsi"}) {
    const std::string path = proc + "/" + masked;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (auto r = do_mount("tmpfs", path, "tmpfs", MS_RDONLY | kLocked, "size=0",
                            "masking /proc path");
          !r)
        return r;
    } else if (auto r = do_mount("/dev/null", path, nullptr, MS_BIND, nullptr,
                                 "masking /proc path");
               !r) {
      return r;
    }
  }
  for (const char* read_only : {"bus", "fs", "irq", "sys", "sysrq-trigger"}) {
    const std::string path = proc + "/" + read_only;
    if (::access(path.c_str(), F_OK) != 0) continue;
    if (auto r = do_mount(path.c_str(), path, nullptr, MS_BIND | MS_REC, nullptr,
                          "binding /proc path");
        !r)
      return r;
    if (auto r = do_mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kLocked,
                          nullptr, "making /proc path read-only");
        !r)
      return r;
  }
  return {};
}

Result<void> mount_sys(const std::string& root, bool privileged) {
  const std::string sys = root + "/sys";
  struct stat st;
  if (::lstat(sys.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  constexpr unsigned long kLocked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (auto r = do_mount("sysfs", sys, "sysfs", (privileged ? 0 : MS_RDONLY) | kLocked, nullptr, "mounting /sys"); !r) {
    // Rootless with the host's network: a sysfs belongs to the network namespace's owner,
    // which is not ours. The host's /sys, bound read-only, stands in, as runc does.
    if (r.error().sys_errno() != EPERM || layers::in_initial_user_namespace()) return r;
    UniqueFd tree(::open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!tree) return Error::from_errno("binding the host's /sys (rootless, no sysfs of our own)");
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                    (privileged ? 0 : MOUNT_ATTR_RDONLY);
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
      return Error::from_errno("making the host's /sys read-only");
    if (::move_mount(tree.get(), "", AT_FDCWD, sys.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      return Error::from_errno("binding the host's /sys at " + quoted(sys));
  }
  if (privileged) return {};
  // Docker's masked /sys paths (firmware tables, power capping): empty read-only tmpfs.
  for (const char* masked : {"firmware", "devices/virtual/powercap"}) {
    const std::string path = sys + "/" + masked;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (auto r = do_mount("tmpfs", path, "tmpfs", MS_RDONLY | kLocked, "size=0",
                          "masking /sys path");
        !r)
      return r;
  }
  return {};
}

Result<void> mount_dev(const std::string& root) {
  const std::string dev = root + "/dev";
  // Docker keeps CAP_MKNOD but its device cgroup lets a container open only these nodes.
  // The same without a device cgroup: /dev (like every other mount of the container) is
  // nodev, and each allowed node is a bind mount of the host's own, which carries the
  // host /dev's mount flags and so stays usable. A node made with mknod, or shipped in the
  // image, then fails to open with EACCES (Docker: EPERM).
  if (auto r = do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME,
                        "mode=755,size=65536k", "mounting /dev");
      !r)
    return r;

  for (const char* name : kAllowedDevices) {
    const std::string host = std::string("/dev/") + name;
    const std::string path = dev + "/" + name;
    struct stat st;
    if (::stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
      return Error(ErrorKind::Unsupported, "the host has no character device " + quoted(host) +
                                               " to give the container");
    UniqueFd stub(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!stub) return Error::from_errno("creating mount point " + quoted(path));
    if (auto r = do_mount(host.c_str(), path, nullptr, MS_BIND, nullptr, "binding " + quoted(host));
        !r)
      return r;
  }

  for (const char* dir : {"pts", "shm"}) {
    const std::string path = dev + "/" + dir;
    if (::mkdir(path.c_str(), 0755) != 0) return Error::from_errno("mkdir " + quoted(path));
  }
  if (auto r = do_mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                        "newinstance,ptmxmode=0666,mode=0620,gid=5", "mounting /dev/pts");
      !r)
    return r;
  if (auto r = do_mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "mode=1777,size=65536k", "mounting /dev/shm");
      !r)
    return r;

  struct Link {
    const char* name;
    const char* target;
  };
  for (const Link& link : {Link{"ptmx", "pts/ptmx"}, Link{"fd", "/proc/self/fd"},
                           Link{"stdin", "/proc/self/fd/0"}, Link{"stdout", "/proc/self/fd/1"},
                           Link{"stderr", "/proc/self/fd/2"}, Link{"core", "/proc/kcore"}}) {
    const std::string path = dev + "/" + link.name;
    if (::symlink(link.target, path.c_str()) != 0)
      return Error::from_errno("symlink " + quoted(path));
  }
  return {};
}

Result<void> bind_file(const std::string& source, const std::string& target) {
  return do_mount(source.c_str(), target, nullptr, MS_BIND, nullptr,
                  "binding " + quoted(source));
}

namespace {

Result<UniqueFd> open_in_root(int root_fd, const std::string& rel) {
  UniqueFd fd(layers::open_in_root_clamped(root_fd, rel, O_PATH));
  if (!fd) return Error::from_errno("resolving " + quoted("/" + rel) + " in the container");
  return fd;
}

// Opens `rel` inside the root, creating it (and missing parents, as directories) when
// absent. Symlinks met on the way resolve as if the root were "/".
Result<UniqueFd> open_or_create_in_root(int root_fd, const std::string& rel, bool as_dir,
                                        int depth = 0) {
  auto fd = open_in_root(root_fd, rel);
  if (fd || fd.error().sys_errno() != ENOENT || rel.empty() || depth > 256) return fd;
  size_t slash = rel.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  auto parent_fd = open_or_create_in_root(root_fd, parent, true, depth + 1);
  if (!parent_fd) return parent_fd;
  if (as_dir) {
    if (::mkdirat(parent_fd->get(), name.c_str(), 0755) != 0)
      return Error::from_errno("creating " + quoted("/" + rel) + " in the container");
  } else {
    UniqueFd file(::openat(parent_fd->get(), name.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!file) return Error::from_errno("creating " + quoted("/" + rel) + " in the container");
  }
  return open_in_root(root_fd, rel);
}

}  // namespace

// "/a//b/./c/" -> "a/b/c"; ".." is refused rather than interpreted.
Result<std::string> normalize_container_path(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Error(ErrorKind::InvalidInput, "container path " + quoted(path) + " is not absolute");
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part == "..")
      return Error(ErrorKind::InvalidInput, "container path " + quoted(path) + " contains \"..\"");
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    start = end + 1;
  }
  return out;
}

Result<void> mount_binds(const std::string& root, const std::vector<BindMount>& binds) {
  if (binds.empty()) return {};
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return Error::from_errno("opening the container root " + quoted(root));
  for (const BindMount& bind : binds) {
    const std::string what = "bind mount " + quoted(bind.host_path) + " -> " +
                             quoted(bind.container_path);
    auto rel = normalize_container_path(bind.container_path);
    if (!rel) return std::move(rel).error().context(what);
    struct stat st;
    if (::stat(bind.host_path.c_str(), &st) != 0)
      return Error::from_errno("stat " + quoted(bind.host_path)).context(what);

    UniqueFd tree(::open_tree(AT_FDCWD, bind.host_path.c_str(),
                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!tree) return Error::from_errno("cloning " + quoted(bind.host_path)).context(what);
    // nodev as the rest of the container: a bound device node does not open, as under
    // Docker's device cgroup without --device.
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_NODEV | (bind.read_only ? MOUNT_ATTR_RDONLY : 0);
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
      return Error::from_errno("setting the mount's flags (nodev, read-only)").context(what);
    auto target = open_or_create_in_root(root_fd.get(), *rel, S_ISDIR(st.st_mode));
    if (!target) return std::move(target).error().context(what);
    if (::move_mount(tree.get(), "", target->get(), "",
                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
      return Error::from_errno("attaching the mount").context(what);
  }
  return {};
}


namespace {

// A detached tmpfs (nodev, nosuid), not yet attached anywhere.
Result<UniqueFd> new_tmpfs(int64_t size_bytes, const char* mode) {
  UniqueFd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
  if (!fs) return Error::from_errno("fsopen tmpfs");
  if (size_bytes > 0) {
    const std::string size = std::to_string(size_bytes);
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "size", size.c_str(), 0) != 0)
      return Error::from_errno("tmpfs size=" + size);
  }
  if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "mode", mode, 0) != 0 ||
      ::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return Error::from_errno("creating a tmpfs");
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID));
  if (!mnt) return Error::from_errno("fsmount tmpfs");
  return mnt;
}

Result<void> set_mount_flags(int tree, uint64_t flags) {
  struct mount_attr attr {};
  attr.attr_set = flags;
  if (::mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    return Error::from_errno("setting the mount's flags");
  return {};
}

// The mount to attach for one RUN --mount, detached.
Result<UniqueFd> make_step_mount(const StepMount& mount) {
  switch (mount.kind) {
    case StepMount::Kind::Bind: {
      UniqueFd tree(::open_tree(AT_FDCWD, mount.host_path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
      if (!tree) return Error::from_errno("cloning " + quoted(mount.host_path));
      if (auto r = set_mount_flags(tree.get(), MOUNT_ATTR_NODEV | (mount.read_only ? MOUNT_ATTR_RDONLY : 0)); !r)
        return std::move(r).error();
      return tree;
    }
    case StepMount::Kind::Tmpfs: {
      auto fs = new_tmpfs(mount.size_bytes, "1777");
      if (!fs) return fs;
      const uint64_t extra = (mount.read_only ? MOUNT_ATTR_RDONLY : 0) | (mount.is_noexec ? MOUNT_ATTR_NOEXEC : 0);
      if (extra != 0) {
        if (auto r = set_mount_flags(fs->get(), MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | extra); !r)
          return std::move(r).error();
      }
      return fs;
    }
    case StepMount::Kind::File: {
      // The file lives on a tmpfs of its own that only this mount namespace ever sees.
      auto fs = new_tmpfs(static_cast<int64_t>(mount.content.size()) + 4096, "0700");
      if (!fs) return fs;
      UniqueFd file(::openat(fs->get(), "file", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!file) return Error::from_errno("creating the file on its tmpfs");
      size_t done = 0;
      while (done < mount.content.size()) {
        ssize_t n = ::write(file.get(), mount.content.data() + done, mount.content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno("writing the file on its tmpfs");
        done += static_cast<size_t>(n);
      }
      if (::fchown(file.get(), mount.uid, mount.gid) != 0 || ::fchmod(file.get(), mount.mode & 07777) != 0)
        return Error::from_errno("setting the file's owner and mode");
      UniqueFd tree(::open_tree(fs->get(), "file", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
      if (!tree) return Error::from_errno("cloning the file's mount");
      if (auto r = set_mount_flags(tree.get(), MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_RDONLY); !r)
        return std::move(r).error();
      return tree;
    }
  }
  return Error(ErrorKind::InvalidInput, "unknown mount kind");
}

}  // namespace

Result<void> mount_step_mounts(const std::string& root, const std::vector<StepMount>& mounts) {
  if (mounts.empty()) return {};
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return Error::from_errno("opening the container root " + quoted(root));
  for (const StepMount& mount : mounts) {
    const std::string what = "mount target " + quoted(mount.target);  // RUN --mount, --tmpfs
    auto rel = normalize_container_path(mount.target);
    if (!rel) return std::move(rel).error().context(what);
    auto tree = make_step_mount(mount);
    if (!tree) return std::move(tree).error().context(what);
    // The target exists (a stub when the image lacks it) and its path holds no symlink.
    UniqueFd target(layers::open_beneath_no_symlinks(root_fd.get(), *rel, O_PATH | O_NOFOLLOW));
    if (!target) return Error::from_errno("resolving the mount target").context(what);
    if (::move_mount(tree->get(), "", target.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
      return Error::from_errno("attaching the mount").context(what);
  }
  return {};
}

}  // namespace runtime::sandbox
