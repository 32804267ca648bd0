#include "runtime/sandbox/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "runtime/sandbox/cgroup.h"
#include "runtime/sandbox/mounts.h"
#include "runtime/sandbox/namespaces.h"
#include "runtime/sandbox/pivot.h"
#include "runtime/sandbox/process.h"
#include "runtime/sandbox/seccomp.h"
#include "runtime/sandbox/slirp.h"
#include "runtime/sandbox/temp_dir.h"
#include "runtime/users.h"
#include "layers/unique_fd.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;
using layers::UniqueFd;

namespace {

constexpr int kSetupFailed = 125;  // the child's exit code when it reported an error

// Everything the child needs, prepared by the parent before fork.
struct ChildPlan {
  const SandboxSpec* spec = nullptr;
  bool is_overlay = false;
  bool chroot_only = false;  // rootfs mode without namespaces or mounts
  int stdin_fd = -1;         // chroot_only: the host's /dev/null when spec.stdin_fd is -1
  std::string root;          // where the container's root is assembled (the pivot target)
  std::string stubs_dir;     // overlay mode: the private top-most layer of mount points
  std::string empty_dir;     // overlay mode: the only lower layer of FROM scratch
  std::string etc_dir;       // generated hosts, resolv.conf, hostname
  int report_fd = -1;
  int stdout_fd = -1, stderr_fd = -1;
  std::string slirp_binary;  // Network::Default with namespaces: slirp4netns to start
  std::string cgroup_dir;    // the pids cgroup the container runs in; empty: none
};

// The mount points the sandbox needs in every image.
struct MountPoint {
  const char* rel;
  bool is_dir;
  bool is_etc_file;
};
constexpr MountPoint kMountPoints[] = {
    {"proc", true, false},
    {"dev", true, false},
    {"etc/hosts", false, true},
    {"etc/resolv.conf", false, true},
    {"etc/hostname", false, true},
};

// Which /etc files can be bind-mounted (an image whose /etc is a symlink, or holds a
// directory named hosts, keeps its own).
struct RootLayout {
  bool etc_files[3] = {false, false, false};
};

struct Stub {
  std::string rel;
  bool is_dir;
  std::optional<struct stat> like;  // the image's entry whose metadata the stub copies
};

// The stubs for RUN --mount targets: each missing component of a target's path, and in
// overlay mode the image's own directories above a missing one (standing in for them in the
// stubs layer, with their metadata). Existing components must be directories, never
// symlinks, and an existing target must have the mount's type.
Result<void> plan_step_mount_stubs(const ChildPlan& plan, std::vector<Stub>* stubs) {
  std::set<std::string> planned;
  for (const Stub& stub : *stubs) planned.insert(stub.rel);
  for (const StepMount& mount : plan.spec->step_mounts) {
    auto rel = normalize_container_path(mount.target);
    if (!rel) return std::move(rel).error();
    bool wants_dir = mount.kind == StepMount::Kind::Tmpfs;
    if (mount.kind == StepMount::Kind::Bind) {
      struct stat source;
      if (::stat(mount.host_path.c_str(), &source) != 0)
        return Error::from_errno("stat " + quoted(mount.host_path)).context("RUN --mount source");
      wants_dir = S_ISDIR(source.st_mode);
    }
    std::vector<Stub> parents;  // existing directories above a missing component
    size_t start = 0;
    while (true) {
      const size_t slash = rel->find('/', start);
      const bool last = slash == std::string::npos;
      const std::string part = last ? *rel : rel->substr(0, slash);
      const std::string what = "RUN --mount target " + quoted(mount.target) + ": " + quoted("/" + part);
      struct stat st;
      if (::lstat((plan.root + "/" + part).c_str(), &st) == 0) {
        if (!last && !S_ISDIR(st.st_mode))
          return Error(ErrorKind::Unsupported, what + " is not a directory in the image (hoist does not follow "
                                                      "symlinks in mount targets)");
        if (last && wants_dir != S_ISDIR(st.st_mode))
          return Error(ErrorKind::InvalidInput, what + " exists in the image and is not a " +
                                                    (wants_dir ? "directory" : "regular file"));
        if (last && !wants_dir && !S_ISREG(st.st_mode))
          return Error(ErrorKind::InvalidInput, what + " exists in the image and is not a regular file");
        if (!last) parents.push_back({part, true, st});
      } else {
        if (plan.is_overlay)
          for (Stub& parent : parents)
            if (planned.insert(parent.rel).second) stubs->push_back(parent);
        parents.clear();
        if (planned.insert(part).second) stubs->push_back({part, last ? wants_dir : true, std::nullopt});
      }
      if (last) break;
      start = slash + 1;
    }
  }
  return {};
}

// Looks at the assembled root and lists the stubs it needs so every mount point exists
// as the right type and is no symlink (a bind onto a symlink would follow it out of the
// root before pivot_root). In overlay mode a stub sits in a layer above the image and can
// hide whatever the image has there; in rootfs mode it can only fill a gap.
Result<std::vector<Stub>> plan_stubs(const ChildPlan& plan, RootLayout* layout) {
  const bool can_shadow = plan.is_overlay;
  std::vector<Stub> stubs;
  struct stat etc_st;
  const bool etc_missing = ::lstat((plan.root + "/etc").c_str(), &etc_st) != 0;
  const bool etc_usable = etc_missing || S_ISDIR(etc_st.st_mode);
  bool etc_stub_added = false;
  int etc_index = 0;
  for (const MountPoint& mp : kMountPoints) {
    if (!mp.is_etc_file && plan.chroot_only) continue;  // nothing is mounted on them
    struct stat st;
    const bool exists = ::lstat((plan.root + "/" + mp.rel).c_str(), &st) == 0;
    if (!mp.is_etc_file) {
      if (exists && S_ISDIR(st.st_mode)) continue;
      if (exists && !can_shadow) {
        return Error(ErrorKind::Unsupported,
                     "/" + std::string(mp.rel) + " in the root is not a directory; cannot mount over it");
      }
      stubs.push_back({mp.rel, true, std::nullopt});
      continue;
    }
    const int index = etc_index++;
    if (!plan.spec->mount_etc_files || !etc_usable) continue;
    if (exists && S_ISDIR(st.st_mode)) continue;
    if (exists && !S_ISREG(st.st_mode) && !can_shadow) continue;  // e.g. a symlink: keep it
    layout->etc_files[index] = true;
    if (exists && S_ISREG(st.st_mode)) continue;
    if (!etc_stub_added && (etc_missing || can_shadow)) {
      stubs.push_back({"etc", true, etc_missing ? std::nullopt : std::optional(etc_st)});
      etc_stub_added = true;
    }
    stubs.push_back({mp.rel, false, std::nullopt});
  }
  if (auto r = plan_step_mount_stubs(plan, &stubs); !r) return std::move(r).error();
  return stubs;
}

Result<void> create_stub(const std::string& base, const Stub& stub) {
  const std::string path = base + "/" + stub.rel;
  const mode_t mode = stub.like ? (stub.like->st_mode & 07777) : (stub.is_dir ? 0755 : 0644);
  if (stub.is_dir) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
      return Error::from_errno("creating mount point " + quoted(path));
  } else {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) return Error::from_errno("creating mount point " + quoted(path));
  }
  if (::chmod(path.c_str(), mode) != 0) return Error::from_errno("chmod " + quoted(path));
  if (stub.like) {
    if (::lchown(path.c_str(), stub.like->st_uid, stub.like->st_gid) != 0)
      return Error::from_errno("chown " + quoted(path));
  }
  return {};
}

std::string parent_rel(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

void restore_times(const std::string& path, const struct stat& st) {
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

// A stub directory standing in for the image's one must look like it, or the merged
// directory (and any copy-up of it into the layer) would show the stub's times.
void copy_times(const std::string& base, const std::vector<Stub>& stubs) {
  for (const Stub& stub : stubs) {
    if (!stub.like) continue;
    const struct timespec times[2] = {stub.like->st_atim, stub.like->st_mtim};
    ::utimensat(AT_FDCWD, (base + "/" + stub.rel).c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
}

// Assembles the container's root at plan.root: the overlay (plus a layer of stub mount
// points when the image lacks some), or the rootfs dir with its missing mount points
// created and reported for removal.
Result<RootLayout> mount_rootfs(const ChildPlan& plan) {
  const SandboxSpec& spec = *plan.spec;
  RootLayout layout;
  if (!plan.is_overlay) {
    auto stubs = plan_stubs(plan, &layout);
    if (!stubs) return std::move(stubs).error();
    // The stubs must not show in their parents' mtimes: the copy executor diffs this root
    // afterwards, and overlay mode leaves the image's directories untouched too.
    std::vector<std::pair<std::string, struct stat>> parents;
    for (const Stub& stub : *stubs) {
      const std::string parent = plan.root + "/" + parent_rel(stub.rel);
      struct stat st;
      if (::lstat(parent.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) parents.emplace_back(parent, st);
    }
    for (const Stub& stub : *stubs) {
      if (auto r = create_stub(plan.root, stub); !r) return std::move(r).error();
      report_stub(plan.report_fd, stub.rel);
    }
    for (auto it = parents.rbegin(); it != parents.rend(); ++it) restore_times(it->first, it->second);
    if (auto r = bind_root_onto_itself(plan.root); !r) return std::move(r).error();
    return layout;
  }

  OverlayLayers layers{spec.lower_dirs, spec.upper_dir, spec.work_dir};
  if (layers.lower_dirs.empty()) layers.lower_dirs.push_back(plan.empty_dir);
  auto first = mount_overlay(layers, plan.root);
  if (!first) return std::move(first).error();
  auto stubs = plan_stubs(plan, &layout);
  if (!stubs) return std::move(stubs).error();
  if (stubs->empty()) {
    first->release();
    return layout;
  }
  {
    MountGuard unmount_first = std::move(*first);
  }
  for (const Stub& stub : *stubs) {
    if (auto r = create_stub(plan.stubs_dir, stub); !r) return std::move(r).error();
  }
  copy_times(plan.stubs_dir, *stubs);
  layers.lower_dirs.insert(layers.lower_dirs.begin(), plan.stubs_dir);
  auto second = mount_overlay(layers, plan.root);
  if (!second) return std::move(second).error().context("with mount points added");
  second->release();
  return layout;
}

Result<void> mount_etc_files(const ChildPlan& plan, const RootLayout& layout) {
  int index = 0;
  for (const MountPoint& mp : kMountPoints) {
    if (!mp.is_etc_file) continue;
    if (layout.etc_files[index++]) {
      const std::string name = std::string(mp.rel).substr(4);
      if (auto r = bind_file(plan.etc_dir + "/" + name, plan.root + "/" + mp.rel); !r) return r;
    }
  }
  return {};
}

// chroot_only: the process enters the root with chroot instead of namespaces, mounts and
// pivot_root; the parent prepared the root (prepare_chroot_root).
Result<void> enter_chroot(const ChildPlan& plan) {
  if (::chroot(plan.root.c_str()) != 0) return Error::from_errno("chroot " + quoted(plan.root));
  if (::chdir("/") != 0) return Error::from_errno("chdir / after chroot");
  return {};
}

// USER is resolved against the container's own files, now that "/" is the image.
// `home` is the user's passwd home ("/" without an entry), for HOME.
Result<Credentials> resolve_credentials(const SandboxSpec& spec, std::string* home) {
  if (spec.user.empty()) {
    // Given as numbers: only the home comes from passwd, and an unreadable passwd is no
    // error here (runc reads it leniently too): HOME is then "/".
    auto by_uid = resolve_user(std::string("/"), std::to_string(spec.uid), UserPurpose::Run);
    *home = by_uid ? by_uid->home : "/";
    return Credentials{spec.uid, spec.gid, spec.supplementary_gids};
  }
  auto user = resolve_user(std::string("/"), spec.user, UserPurpose::Run);
  if (!user) return std::move(user).error();
  *home = user->home;
  return Credentials{user->uid, user->gid, user->supplementary_gids};
}

// The command's environment: spec.env, with HOME set to the user's home when it has none
// or an empty one, as runc (and so `docker run` and RUN in `docker build`) does.
std::vector<std::string> env_with_home(const std::vector<std::string>& env, const std::string& home) {
  std::vector<std::string> out = env;
  for (auto& e : out) {
    if (!e.starts_with("HOME=")) continue;
    if (e.size() == 5) e += home;
    return out;
  }
  out.push_back("HOME=" + home);
  return out;
}

// The container, top to bottom. Runs as PID 1 of the new PID namespace, inside the new
// mount namespace, with the host's paths until pivot_into. Sets *env to the command's.
Result<void> prepare_child(const ChildPlan& plan, std::vector<std::string>* env) {
  const SandboxSpec& spec = *plan.spec;
  if (plan.chroot_only) {
    if (auto r = enter_chroot(plan); !r) return r;
  } else {
    if (auto r = make_mounts_private(); !r) return r;
    auto layout = mount_rootfs(plan);
    if (!layout) return std::move(layout).error();
    if (auto r = mount_proc(plan.root, spec.privileged); !r) return r;
    if (auto r = mount_sys(plan.root, spec.privileged); !r) return r;
    if (auto r = mount_dev(plan.root); !r) return r;
    if (auto r = mount_etc_files(plan, *layout); !r) return r;
    if (auto r = mount_binds(plan.root, spec.binds); !r) return r;
    if (auto r = mount_step_mounts(plan.root, spec.step_mounts); !r) return r;
    if (spec.read_only_root) {
      if (auto r = set_read_only(plan.root); !r) return r;
    }
    if (auto r = set_hostname(spec.hostname); !r) return r;
    if (spec.network != Network::Host) {
      if (auto r = bring_up_loopback(); !r) return r;
    }
    if (auto r = pivot_into(plan.root); !r) return r;
  }
  std::string home;
  auto user = resolve_credentials(spec, &home);
  if (!user) return std::move(user).error();
  *env = env_with_home(spec.env, home);
  if (auto r = make_cwd(spec.cwd); !r) return r;
  const int stdin_fd = plan.chroot_only ? plan.stdin_fd : spec.stdin_fd;
  if (auto r = install_stdio(stdin_fd, plan.stdout_fd, plan.stderr_fd); !r) return r;
  if (auto r = drop_privileges(*user, spec.capabilities, spec.privileged); !r) return r;
  if (::chdir(spec.cwd.c_str()) != 0)
    return Error::from_errno("entering working directory " + quoted(spec.cwd));
  if (spec.privileged) return {};  // docker run --privileged: seccomp=unconfined
  return install_seccomp_filter();
}

[[noreturn]] void fail_child(const ChildPlan& plan, const Error& error) {
  report_error(plan.report_fd, error);
  ::_exit(kSetupFailed);
}

// The container's process (PID 1 inside): set up, then exec the command.
[[noreturn]] void container_main(const ChildPlan& plan) {
  // If the supervisor dies, so does the container, and with PID 1 everything in it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Without a PID namespace, the command's process group is what the supervisor kills.
  if (plan.chroot_only) ::setpgid(0, 0);
  // Only the container's own processes count against pids.max (not the supervisor or
  // slirp4netns), as under Docker; children are born in the cgroup.
  if (!plan.cgroup_dir.empty()) {
    if (auto r = PidsCgroup::enter_dir(plan.cgroup_dir); !r) fail_child(plan, r.error());
  }
  std::vector<std::string> env;
  if (auto r = prepare_child(plan, &env); !r) fail_child(plan, r.error());
  reset_signal_state();
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  fail_child(plan, exec_command(plan.spec->argv, env));
}

// The supervisor: enters the namespaces, forks the container's PID 1 and waits for it.
// It stays outside the PID namespace so it can report PID 1's status, and kills the
// container when the parent asks (SIGTERM) or dies.
[[noreturn]] void supervisor_main(const ChildPlan& plan, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kSetupFailed);
  sigset_t waited;
  sigemptyset(&waited);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&waited, sig);
  ::sigprocmask(SIG_BLOCK, &waited, nullptr);

  std::optional<Slirp> slirp;
  if (!plan.slirp_binary.empty()) {
    // Forked while still in the host's network namespace, started once ours exists.
    auto prepared = Slirp::prepare(plan.slirp_binary);
    if (!prepared) fail_child(plan, prepared.error());
    slirp.emplace(std::move(*prepared));
  }
  if (!plan.chroot_only) {
    if (auto r = enter_namespaces(plan.spec->network); !r) fail_child(plan, r.error());
  }
  if (slirp) {
    if (auto r = slirp->start(); !r) fail_child(plan, r.error());
  }
  pid_t child = ::fork();
  if (child < 0) fail_child(plan, Error::from_errno("fork (container init)"));
  if (child == 0) container_main(plan);
  // chroot_only: the group is the container (set here too, so a kill never misses it).
  if (plan.chroot_only) ::setpgid(child, child);
  const pid_t target = plan.chroot_only ? -child : child;
  // Everything but slirp4netns's exit fd, which keeps it running as long as we do.
  const int keep = slirp ? slirp->exit_fd() : -1;
  if (keep >= 3) {
    if (keep > 3) ::close_range(3, unsigned(keep - 1), 0);
    ::close_range(unsigned(keep + 1), ~0U, 0);
  } else {
    ::close_range(3, ~0U, 0);
  }

  while (true) {
    siginfo_t info;
    if (::sigwaitinfo(&waited, &info) < 0) continue;
    if (info.si_signo == SIGTERM) ::kill(target, SIGKILL);
    if (info.si_signo != SIGCHLD) continue;
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) != child) continue;
    // As PID 1's death does in a PID namespace: nothing the command left survives it.
    if (plan.chroot_only) ::kill(target, SIGKILL);
    if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
    ::_exit(128 + WTERMSIG(status));
  }
}

// Blocks SIGINT and SIGTERM in this thread and receives them through a signalfd, until
// destroyed.
class SignalCatcher {
 public:
  SignalCatcher() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, &old_);
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  ~SignalCatcher() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  int fd() const { return fd_.get(); }

 private:
  sigset_t old_;
  UniqueFd fd_;
};

Result<void> write_text(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Error::from_errno("creating " + quoted(path));
  if (::write(fd.get(), text.data(), text.size()) != ssize_t(text.size()))
    return Error::from_errno("writing " + quoted(path));
  return {};
}

// With its own network behind slirp4netns (--disable-host-loopback), the container cannot
// reach a resolver on the host's loopback (systemd-resolved's 127.0.0.53, dnsmasq): such
// a nameserver becomes slirp's DNS forwarder, which asks the host's resolvers for it.
std::string host_resolv_conf(Network network) {
  std::ifstream in("/etc/resolv.conf");
  std::string out;
  bool has_nameserver = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, address;
    words >> key >> address;
    if (key == "nameserver") {
      has_nameserver = true;
      const bool is_loopback = address.rfind("127.", 0) == 0 || address == "::1";
      if (is_loopback && network == Network::Default) line = "nameserver 10.0.2.3";
    }
    out += line + "\n";
  }
  if (!has_nameserver) out = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  return out;
}

Result<void> write_etc_files(const SandboxSpec& spec, const std::string& dir) {
  std::string hosts = spec.hosts_content;
  if (hosts.empty()) {
    hosts = "127.0.0.1\tlocalhost " + spec.hostname +
            "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  }
  const std::string resolv =
      spec.resolv_conf_content.empty() ? host_resolv_conf(spec.network) : spec.resolv_conf_content;
  if (auto r = write_text(dir + "/hosts", hosts); !r) return r;
  if (auto r = write_text(dir + "/resolv.conf", resolv); !r) return r;
  return write_text(dir + "/hostname", spec.hostname + "\n");
}

Result<void> check_spec(const SandboxSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty())
    return Error(ErrorKind::InvalidInput, "no command to run");
  if (spec.cwd.empty() || spec.cwd[0] != '/')
    return Error(ErrorKind::InvalidInput, "working directory " + quoted(spec.cwd) + " is not absolute");
  if (spec.upper_dir.empty() == spec.rootfs_dir.empty())
    return Error(ErrorKind::InvalidInput, "exactly one of upper_dir and rootfs_dir must be set");
  if (spec.chroot_only && spec.rootfs_dir.empty())
    return Error(ErrorKind::InvalidInput, "chroot_only needs rootfs_dir");
  if (spec.chroot_only && spec.network == Network::None)
    return Error(ErrorKind::Unsupported,
                 "--network none needs a network namespace, which cannot be created here "
                 "(RUN executor copy+chroot)");
  if (spec.chroot_only && !spec.binds.empty())
    return Error(ErrorKind::Unsupported,
                 "-v/--volume: bind mounts cannot be made here (no mount namespace: chroot only)");
  if (spec.chroot_only && spec.read_only_root)
    return Error(ErrorKind::Unsupported,
                 "--read-only cannot be applied here (no mount namespace: chroot only)");
  if (spec.chroot_only && !spec.step_mounts.empty())
    return Error(ErrorKind::Unsupported,
                 "RUN --mount cannot be made here (no mount namespace: RUN executor copy+chroot)");
  // With every capability and no namespace, a privileged command's mounts would land in
  // the caller's mount namespace: no boundary is left to lift, so refuse instead.
  if (spec.chroot_only && spec.privileged)
    return Error(ErrorKind::Unsupported,
                 "a privileged step needs the sandbox's namespaces, which cannot be created here "
                 "(RUN executor copy+chroot)");
  for (const StepMount& mount : spec.step_mounts) {
    auto rel = normalize_container_path(mount.target);
    if (!rel) return std::move(rel).error().context("RUN --mount target");
    if (rel->empty()) return Error(ErrorKind::InvalidInput, "RUN --mount target cannot be /");
  }
  if (!spec.upper_dir.empty() && spec.work_dir.empty())
    return Error(ErrorKind::InvalidInput, "an overlay upper dir needs a work dir");
  for (const auto& e : spec.env) {
    if (e.find('=') == std::string::npos || e[0] == '=')
      return Error(ErrorKind::InvalidInput, "environment entry " + quoted(e) + " is not KEY=value");
  }
  return {};
}

std::string scratch_parent(const SandboxSpec& spec) {
  if (!spec.scratch_dir.empty()) return spec.scratch_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

// Removes the mount points made in a rootfs dir, deepest first, and only while they are
// still what the sandbox created: an empty directory or an empty file.
void remove_stubs(const std::string& root, const std::vector<std::string>& stubs) {
  for (auto it = stubs.rbegin(); it != stubs.rend(); ++it) {
    const std::string path = root + "/" + *it;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    // The parent keeps the times the command left it (see mount_rootfs).
    const std::string parent = root + "/" + parent_rel(*it);
    struct stat parent_st;
    const bool has_parent = ::lstat(parent.c_str(), &parent_st) == 0 && S_ISDIR(parent_st.st_mode);
    int removed = -1;
    if (S_ISDIR(st.st_mode)) {
      removed = ::rmdir(path.c_str());
    } else if (S_ISCHR(st.st_mode) && st.st_rdev != 0) {  // a device node made for chroot_only
      removed = ::unlink(path.c_str());
    } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
      removed = ::unlink(path.c_str());
    }
    if (removed == 0 && has_parent) restore_times(parent, parent_st);
  }
}

// chroot_only: what prepare_chroot_root changed in the root, for undo_chroot_root.
struct ChrootChanges {
  std::vector<std::string> stubs;      // created, relative; removed deepest first
  std::vector<std::string> etc_files;  // written for the run, relative
  std::vector<std::pair<std::string, std::string>> set_aside;  // relative path, saved at
  std::vector<std::string> dev_files;  // regular files standing in for /dev nodes, relative
};

constexpr struct {
  const char* rel;
  unsigned minor;
} kChrootDevices[] = {
    {"dev/null", 3}, {"dev/zero", 5}, {"dev/full", 7}, {"dev/random", 8}, {"dev/urandom", 9}};

// chroot_only, in the parent before the run: the mount points' stand-ins are real files.
// The generated /etc files are written into the root (the root's own set aside in
// `saved_dir`), and missing device nodes are created where mknod is permitted. Every
// change is listed in `changes` as it is made, so a failure halfway is undone too.
Result<void> prepare_chroot_root(const ChildPlan& plan, const std::string& saved_dir,
                                 ChrootChanges* changes) {
  RootLayout layout;
  auto stubs = plan_stubs(plan, &layout);
  if (!stubs) return std::move(stubs).error();
  std::vector<std::pair<std::string, struct stat>> parents;
  for (const char* rel : {"", "/etc", "/dev"}) {
    struct stat st;
    const std::string dir = plan.root + rel;
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) parents.emplace_back(dir, st);
  }
  auto restore_parents = [&] {
    for (auto it = parents.rbegin(); it != parents.rend(); ++it)
      restore_times(it->first, it->second);
  };
  for (const Stub& stub : *stubs) {
    if (!stub.is_dir) continue;  // the /etc files are written below
    if (auto r = create_stub(plan.root, stub); !r) return r;
    changes->stubs.push_back(stub.rel);
  }
  int index = 0;
  for (const MountPoint& mp : kMountPoints) {
    if (!mp.is_etc_file) continue;
    if (!layout.etc_files[index++]) continue;
    const std::string rel = mp.rel;
    const std::string name = rel.substr(4);
    const std::string path = plan.root + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      const std::string saved = saved_dir + "/" + name;
      if (::rename(path.c_str(), saved.c_str()) != 0)
        return Error::from_errno("setting " + quoted(path) + " aside in " + quoted(saved_dir));
      changes->set_aside.emplace_back(rel, saved);
    }
    changes->etc_files.push_back(rel);
    std::ifstream in(plan.etc_dir + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    if (auto r = write_text(path, text.str()); !r) return r;
    if (::chmod(path.c_str(), 0644) != 0) return Error::from_errno("chmod " + quoted(path));
  }
  struct stat dev_st;
  if (::lstat((plan.root + "/dev").c_str(), &dev_st) != 0 && errno == ENOENT) {
    if (::mkdir((plan.root + "/dev").c_str(), 0755) == 0) changes->stubs.push_back("dev");
  }
  for (const auto& dev : kChrootDevices) {
    const std::string path = plan.root + "/" + dev.rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 || errno != ENOENT) continue;
    // Refused without CAP_MKNOD or by a device cgroup; and a node made on a nodev mount (a
    // volume of `hoist run`, which is nodev) does not open (EACCES): the node is not kept.
    if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, dev.minor)) == 0) {
      ::chmod(path.c_str(), 0666);
      UniqueFd opened(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (opened) {
        changes->stubs.push_back(dev.rel);
        continue;
      }
      ::unlink(path.c_str());
    }
    // Without a real /dev/null, `> /dev/null` would leave a file in the layer and
    // `< /dev/null` fail: an empty regular file (0666) stands in for it during the step and
    // is removed after, whatever was written to it. The other nodes are left missing.
    if (std::string_view(dev.rel) != "dev/null") continue;
    UniqueFd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!file) return Error::from_errno("creating " + quoted(path) + " (standing in for /dev/null)");
    ::fchmod(file.get(), 0666);
    changes->dev_files.push_back(dev.rel);
  }
  restore_parents();
  return {};
}

// Puts the root back as prepare_chroot_root found it (whatever the command did to those
// paths: Docker keeps no change to the /etc files from a RUN either).
void undo_chroot_root(const std::string& root, const ChrootChanges& changes) {
  std::vector<std::pair<std::string, struct stat>> parents;
  for (const char* rel : {"", "/etc", "/dev"}) {
    struct stat st;
    const std::string dir = root + rel;
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) parents.emplace_back(dir, st);
  }
  for (const std::string& rel : changes.etc_files) {
    const std::string path = root + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) ::unlink(path.c_str());
  }
  for (const std::string& rel : changes.dev_files) {
    const std::string path = root + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(path.c_str());
  }
  for (const auto& [rel, saved] : changes.set_aside) {
    const std::string path = root + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) continue;  // the command put a directory there
    ::rename(saved.c_str(), path.c_str());
  }
  for (auto it = parents.rbegin(); it != parents.rend(); ++it) restore_times(it->first, it->second);
  remove_stubs(root, changes.stubs);
}

struct Pipe {
  UniqueFd read, write;
  static Result<Pipe> make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

}  // namespace

Result<Network> parse_network(std::string_view text) {
  if (text == "default") return Network::Default;
  if (text == "host") return Network::Host;
  if (text == "none") return Network::None;
  return Error(ErrorKind::Usage,
               "--network " + quoted(std::string(text)) + " is not supported (default, host or none)");
}

Result<int> run(const SandboxSpec& spec) {
  if (auto r = check_spec(spec); !r) return std::move(r).error().context("starting a container");
  auto tmp = TempDir::create_in(scratch_parent(spec), "hoist-run-");
  if (!tmp) return std::move(tmp).error().context("starting a container");

  ChildPlan plan;
  plan.spec = &spec;
  plan.is_overlay = !spec.upper_dir.empty();
  plan.root = plan.is_overlay ? tmp->path() + "/root" : spec.rootfs_dir;
  plan.stubs_dir = tmp->path() + "/stubs";
  plan.empty_dir = tmp->path() + "/empty";
  plan.etc_dir = tmp->path() + "/etc";
  for (const std::string& dir : {plan.stubs_dir, plan.empty_dir, plan.etc_dir}) {
    if (::mkdir(dir.c_str(), 0755) != 0) return Error::from_errno("mkdir " + quoted(dir));
  }
  if (plan.is_overlay && ::mkdir(plan.root.c_str(), 0755) != 0)
    return Error::from_errno("mkdir " + quoted(plan.root));
  if (auto r = write_etc_files(spec, plan.etc_dir); !r) return std::move(r).error();

  plan.chroot_only = spec.chroot_only;
  ChrootChanges chroot_changes;
  UniqueFd host_null;
  struct UndoChroot {
    const SandboxSpec& spec;
    const ChrootChanges& changes;
    ~UndoChroot() {
      if (spec.chroot_only) undo_chroot_root(spec.rootfs_dir, changes);
    }
  } undo_chroot{spec, chroot_changes};
  if (plan.chroot_only) {
    const std::string saved_dir = tmp->path() + "/saved";
    if (::mkdir(saved_dir.c_str(), 0700) != 0)
      return Error::from_errno("mkdir " + quoted(saved_dir));
    if (auto r = prepare_chroot_root(plan, saved_dir, &chroot_changes); !r)
      return std::move(r).error().context("preparing the root for chroot");
    if (spec.stdin_fd < 0) {
      host_null.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!host_null) return Error::from_errno("opening /dev/null for stdin");
      plan.stdin_fd = host_null.get();
    } else {
      plan.stdin_fd = spec.stdin_fd;
    }
  }

  if (spec.network == Network::Default && !plan.chroot_only) {
    auto slirp = find_slirp4netns();
    if (!slirp) return std::move(slirp).error().context("starting a container");
    plan.slirp_binary = *slirp;
  }
  // Where no pids cgroup can be made (no controller delegated to us, an unprivileged
  // container), the container runs without the limit, as under Docker's default.
  std::optional<PidsCgroup> cgroup;
  if (spec.pids_limit > 0) {
    if (auto made = PidsCgroup::create(spec.pids_limit)) {
      cgroup.emplace(std::move(*made));
      plan.cgroup_dir = cgroup->dir();
    }
  }

  auto report = Pipe::make();
  if (!report) return std::move(report).error();
  plan.report_fd = report->write.get();
  std::optional<Pipe> out, err;
  if (spec.on_output) {
    auto o = Pipe::make(), e = Pipe::make();
    if (!o) return std::move(o).error();
    if (!e) return std::move(e).error();
    out = std::move(*o);
    err = std::move(*e);
    plan.stdout_fd = out->write.get();
    plan.stderr_fd = err->write.get();
    ::fcntl(out->read.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err->read.get(), F_SETFL, O_NONBLOCK);
  } else {
    plan.stdout_fd = spec.stdout_fd;
    plan.stderr_fd = spec.stderr_fd;
  }

  SignalCatcher signals;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork (container supervisor)");
  if (pid == 0) supervisor_main(plan, parent);
  report->write.reset();
  if (out) out->write.reset();
  if (err) err->write.reset();

  // Wait for the supervisor while streaming output and watching for cancellation.
  UniqueFd pidfd(int(::syscall(SYS_pidfd_open, pid, 0)));
  bool cancelled = false, exited = false;
  int status = 0;
  auto pump = [&](std::optional<Pipe>& pipe, int stream) {
    char buf[65536];
    while (pipe) {
      ssize_t n = ::read(pipe->read.get(), buf, sizeof buf);
      if (n > 0) {
        spec.on_output(stream, std::string_view(buf, size_t(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      pipe.reset();  // EOF or error
    }
  };
  auto cancel = [&] {
    if (!cancelled) ::kill(pid, SIGTERM);
    cancelled = true;
  };
  while (!exited) {
    std::vector<pollfd> fds;
    fds.push_back({pidfd.get(), POLLIN, 0});
    if (signals.fd() >= 0) fds.push_back({signals.fd(), POLLIN, 0});
    if (spec.cancel_fd >= 0 && !cancelled) fds.push_back({spec.cancel_fd, POLLIN, 0});
    if (out) fds.push_back({out->read.get(), POLLIN, 0});
    if (err) fds.push_back({err->read.get(), POLLIN, 0});
    if (!pidfd) {
      // No pidfd (very old kernel): fall back to polling the child.
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      ::poll(fds.data() + 1, fds.size() - 1, 100);
    } else if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) {
      cancel();
    }
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == signals.fd()) {
        signalfd_siginfo info;
        while (::read(signals.fd(), &info, sizeof info) == sizeof info) cancel();
      } else if (p.fd == spec.cancel_fd) {
        cancel();
      } else if (out && p.fd == out->read.get()) {
        pump(out, 1);
      } else if (err && p.fd == err->read.get()) {
        pump(err, 2);
      } else if (pidfd && p.fd == pidfd.get()) {
        if (::waitpid(pid, &status, 0) == pid) exited = true;
      }
    }
  }
  // The supervisor waited for PID 1, and PID 1's death took every process of the
  // container with it: the pipes have no writers left.
  pump(out, 1);
  pump(err, 2);

  ChildReport child = read_child_report(report->read.get());
  if (!plan.is_overlay) remove_stubs(spec.rootfs_dir, child.stubs);
  if (cancelled) return Error(ErrorKind::Cancelled, "interrupted; the container was stopped");
  if (child.error) return std::move(*child.error).context("setting up the container");
  if (!WIFEXITED(status)) {
    return Error(ErrorKind::Io, "the container's supervisor was killed by signal " +
                                    std::to_string(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

namespace {

// Runs `probe` in a forked child, so that the namespaces and mounts it makes die with it,
// and returns what it found. `what` names the probe in errors ("overlay probe").
Result<void> run_probe_child(const char* what, const std::function<Result<void>()>& probe) {
  auto report = Pipe::make();
  if (!report) return std::move(report).error();
  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(std::string("fork (") + what + ")");
  if (pid == 0) {
    report->read.reset();
    auto probed = probe();
    if (!probed) report_error(report->write.get(), probed.error());
    ::_exit(probed ? 0 : 1);
  }
  report->write.reset();
  ChildReport child = read_child_report(report->read.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (child.error) return std::move(*child.error);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(ErrorKind::Io, std::string("the ") + what + " process failed");
  return {};
}

}  // namespace

Result<void> probe_overlay(const std::string& scratch_dir) {
  auto tmp = TempDir::create_in(scratch_dir, "hoist-overlay-probe-");
  if (!tmp) return std::move(tmp).error();
  for (const char* dir : {"lower", "upper", "work", "merged"}) {
    const std::string path = tmp->path() + "/" + dir;
    if (::mkdir(path.c_str(), 0755) != 0) return Error::from_errno("mkdir " + quoted(path));
  }
  return run_probe_child("overlay probe", [&]() -> Result<void> {
    if (::unshare(CLONE_NEWNS) != 0) return Error::from_errno("unshare(CLONE_NEWNS)");
    if (auto r = make_mounts_private(); !r) return r;
    OverlayLayers layers{{tmp->path() + "/lower"}, tmp->path() + "/upper", tmp->path() + "/work"};
    auto mounted = mount_overlay(layers, tmp->path() + "/merged");
    if (!mounted) return std::move(mounted).error();
    return {};
  });
}

bool overlay_supported(const std::string& scratch_dir) { return bool(probe_overlay(scratch_dir)); }

Result<void> probe_namespaces(const std::string& scratch_dir) {
  auto tmp = TempDir::create_in(scratch_dir, "hoist-ns-probe-");
  if (!tmp) return std::move(tmp).error();
  return run_probe_child("namespace probe", [&]() -> Result<void> {
    if (auto r = enter_namespaces(Network::Host); !r) return r;
    if (auto r = make_mounts_private(); !r) return r;
    return bind_root_onto_itself(tmp->path());
  });
}

}  // namespace runtime::sandbox
