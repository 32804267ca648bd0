#pragma once
// The RUN sandbox: runs one command in a container made of an image's unpacked layers, and
// is the base of `hoist run`.
//
// The container gets new mount, PID, UTS, IPC and network namespaces: Network::Default
// joins its network namespace to the outside through slirp4netns (runtime/sandbox/slirp.h:
// lo and tap0; the host's loopback is out of reach), Network::None leaves it only `lo`, up;
// Network::Host shares the host's instead. Its processes live in a pids cgroup with
// pids.max = pids_limit where cgroups allow (runtime/sandbox/cgroup.h). Its root is an overlayfs
// mount of `lower_dirs` under a writable `upper_dir`, so every change the command makes
// lands in `upper_dir` (turn it into a layer with layers::diff_overlay_upper), or, where
// overlayfs is unavailable, `rootfs_dir` itself (the fallback executor; diff it against a
// snapshot taken before). Inside it: /proc (with Docker's masked and read-only paths), /sys
// read-only when the image has the directory, a tmpfs /dev holding null, zero, full,
// random, urandom, tty, pts/ (a private devpts) and shm/, and, with mount_etc_files,
// /etc/hosts, /etc/resolv.conf and /etc/hostname bind-mounted from generated files. Every
// mount but the allowed device nodes is nodev, so no other device node opens (Docker's
// device cgroup, see mounts.h). The command runs as the given user with Docker's default
// capability set (none for a non-root user), no_new_privs and Docker's default seccomp
// profile (seccomp.h), after pivot_root into the new root.
//
// None of the sandbox's own mount points reach the layer: in overlay mode, a mount point
// the image lacks (/proc, /dev, /etc/hosts, ...) is created in an extra top-most lower
// layer private to this run, never in `upper_dir`; in rootfs mode it is created in
// `rootfs_dir` and removed again after the run if it is still empty, and the times of its
// parent directory are put back both times (so a diff of `rootfs_dir` sees only what the
// command did). `binds` are the
// exception: a missing bind target is created in the container's root (upper dir), since
// binds serve `hoist run`, which keeps no layer.
//
// Everything the sandbox mounts lives in the container's mount namespace and disappears
// with it: the caller's namespace never sees a mount, whether the command succeeds, fails,
// or is cancelled. The caller's process never changes namespace (a child unshares).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace runtime::sandbox {

struct BindMount {
  std::string host_path;       // a file or directory on the host
  std::string container_path;  // absolute; resolved inside the container's root
  bool read_only = false;      // applied recursively
};

// Default: a network namespace of its own, outbound through slirp4netns (which must be
// installed: run() refuses otherwise, never falling back to the host's network). Host: the
// host's network namespace. None: a namespace with only lo.
enum class Network { Default, Host, None };

// A RUN --mount: a mount that exists only while the command runs. Its target, and every
// missing directory above it, is made as a stub the way the sandbox's own mount points are
// (overlay mode: in the private top-most layer; rootfs mode: created, then removed after the
// run while still empty, the parent's times put back), so no mount point ever reaches the
// layer. Every component of the target that the image has must be a directory, no symlink
// (hoist refuses what it would have to follow), and an existing target must be of the
// mount's type (a directory, or a regular file for File and a bound file). Needs the mount
// namespace: refused with chroot_only.
struct StepMount {
  enum class Kind {
    Bind,   // host_path (a file or directory) bound at target, nodev, read_only as asked
    Tmpfs,  // a fresh tmpfs at target (mode 1777, nosuid, nodev), size_bytes when > 0,
            // read_only and is_noexec as asked (`hoist run --tmpfs`)
    File,   // `content` as a file of `mode`, uid:gid, on a tmpfs private to the container,
            // bound read-only at target: the bytes never touch a disk (secrets)
  };
  Kind kind = Kind::Bind;
  std::string target;     // absolute, in the container
  std::string host_path;  // Bind
  bool read_only = false;  // Bind, Tmpfs
  bool is_noexec = false;  // Tmpfs
  int64_t size_bytes = 0;  // Tmpfs; 0: the kernel's default
  std::string content;     // File
  uint32_t mode = 0400, uid = 0, gid = 0;  // File
};

// "default", "host" or "none" (the --network values of hoist build and hoist run).
layers::Result<Network> parse_network(std::string_view text);

// Docker's default capability set (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW,
// SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE) as
// the bit mask /proc/PID/status shows in CapEff.
inline constexpr uint64_t kDefaultCapabilities = 0xa80425fbull;

// The pids.max of a container's cgroup unless the spec says otherwise.
inline constexpr long kDefaultPidsLimit = 4096;

struct SandboxSpec {
  // --- The root filesystem: overlay mode when upper_dir is set, else rootfs_dir. ---
  // Unpacked layers in overlayfs format (whiteouts are 0:0 character devices, opaque
  // directories carry trusted.overlay.opaque=y), top-most first. May be empty (FROM
  // scratch). Never written to.
  std::vector<std::string> lower_dirs;
  // The run's writable layer and overlay's work dir: empty directories on one filesystem
  // that supports trusted.* xattrs. Mounted with redirect_dir=off and metacopy=off, so
  // layers::diff_overlay_upper can read the result.
  std::string upper_dir, work_dir;
  // Fallback executor: this directory is the root, used and changed in place.
  std::string rootfs_dir;
  // rootfs mode only, for hosts where new namespaces and mounts are not permitted (an
  // unprivileged container: no CAP_SYS_ADMIN), as kaniko runs: no new namespaces and no
  // mounts; the command runs chrooted into rootfs_dir, in its own process group (killed
  // as a group when it exits or is cancelled), with the same user, environment, working
  // directory, capability set, no_new_privs and seccomp filter. It gets no /proc, /sys
  // or devpts (nothing is mounted); /dev holds only what the root has, plus
  // null, zero, full, random and urandom created (mknod) for the run where missing and
  // permitted (and the node opens: not on a nodev mount), and removed after; where a
  // /dev/null node cannot be had, an empty regular file (0666) stands in for it during
  // the run and is removed after. With mount_etc_files, /etc/hosts, /etc/resolv.conf and
  // /etc/hostname are written into the root for the run (the root's own files are set
  // aside in scratch_dir, which must be on rootfs_dir's filesystem, and put back after;
  // a diff must ignore these three paths: their ctime moves). The hostname is the host's,
  // and so is the network for Network::Default (no namespace can be made: the unprivileged
  // container around hoist is the boundary). Network::None and binds are refused (they
  // need namespaces and mounts).
  bool chroot_only = false;
  // Where run() makes its private temp dir (mount points, generated /etc files). Empty:
  // $TMPDIR, else /tmp.
  std::string scratch_dir;

  // --- The process. ---
  // Executed as is; argv[0] without '/' is looked up in PATH from `env` (Docker's default
  // PATH when env has none) inside the container. Shell form is the caller's business:
  // pass SHELL + {command}, e.g. {"/bin/sh", "-c", "make -C /src"}.
  std::vector<std::string> argv;
  // "KEY=value", the container's environment; HOME is added (or an empty HOME= filled in)
  // from the user's passwd entry in the container, "/" when it has none, as runc does for
  // `docker run` and for RUN in `docker build`.
  std::vector<std::string> env;
  std::string cwd = "/";         // absolute; created (root-owned, 0755) when missing, as Docker does
  // A Docker USER spec ("name|uid[:group|gid]"), resolved against the container's own
  // /etc/passwd and /etc/group after pivot_root (see runtime/users.h). When empty, uid,
  // gid and supplementary_gids are used as given.
  std::string user;
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> supplementary_gids;

  // --- The surroundings. ---
  Network network = Network::Default;
  // RUN --security=insecure, as BuildKit's insecure mode (`docker run --privileged`): root
  // keeps every capability this process holds (bounding set untouched, no no_new_privs), no
  // seccomp filter, /proc without Docker's masked and read-only paths, /sys writable and
  // unmasked. What stays: the namespaces, the pids cgroup, and /dev (the host's devices are
  // not added). Refused with chroot_only (no mount namespace to keep its mounts in).
  bool privileged = false;
  // What root in the container holds, as the mask CapEff shows (`hoist run --cap-add/
  // --cap-drop`, runtime/capabilities.h), less what this process does not hold itself; the
  // bounding set is cut to it too. Ignored when privileged. A non-root user gets none.
  uint64_t capabilities = kDefaultCapabilities;
  // `hoist run --read-only`: the root is mounted read-only; /proc, /dev, the /etc files,
  // binds and RUN --mount targets keep their own flags. Refused with chroot_only.
  bool read_only_root = false;
  // pids.max of the container's cgroup (a fork bomb stops there); 0: no limit. Applied
  // where a pids cgroup can be made (cgroup v1 pids, or v2 delegating pids to hoist's
  // cgroup); elsewhere the container runs without one.
  long pids_limit = kDefaultPidsLimit;
  std::string hostname = "hoist";
  bool mount_etc_files = true;
  std::string hosts_content;        // empty: localhost lines plus the hostname
  // empty: the host's /etc/resolv.conf (8.8.8.8 if none); under Network::Default a loopback
  // nameserver (127.0.0.53, ...) becomes slirp4netns's DNS forwarder, 10.0.2.3.
  std::string resolv_conf_content;
  std::vector<BindMount> binds;
  std::vector<StepMount> step_mounts;  // RUN --mount, mounted after binds, in this order

  // --- Input and output. ---
  int stdin_fd = -1;  // -1: /dev/null
  int stdout_fd = 1;  // duplicated into the container
  int stderr_fd = 2;
  // When set, stdout and stderr go through pipes and every chunk is handed to this
  // callback on the calling thread (stream is 1 or 2), as it arrives; the fds are unused.
  std::function<void(int stream, std::string_view bytes)> on_output;
  // When this fd becomes readable (or hangs up), the run is cancelled. -1: none.
  int cancel_fd = -1;
};

// Runs the container described by `spec`, waits for it and tears it down.
// Returns the command's exit status: its exit code, or 128+N when signal N killed it. The
// sandbox killing every process left in the container when the command exits, as Docker
// does.
// Errors: InvalidInput for a bad spec (no argv, a relative cwd, neither upper_dir nor
// rootfs_dir); the failing setup step (mounting the overlay, pivot_root, resolving the
// user, ...) with its cause; NotFound/Io when argv[0] cannot be executed; Cancelled when
// SIGINT or SIGTERM reached the calling thread or cancel_fd fired while it ran: the
// container is then killed and everything cleaned up before run returns.
// Signals: run blocks SIGINT and SIGTERM in the calling thread while it runs (restoring
// the mask afterwards) and takes them through a signalfd; in a multi-threaded program,
// other threads must keep both blocked or they will not reach run.
layers::Result<int> run(const SandboxSpec& spec);

// Whether an overlayfs with an upper dir can be mounted on `scratch_dir`'s filesystem
// here (false inside most unprivileged containers, or with the store on an overlayfs).
// Probes in a child's private mount namespace and leaves nothing behind. The error says
// why not (the mount's own error, with the kernel's explanation when it gives one).
layers::Result<void> probe_overlay(const std::string& scratch_dir);
bool overlay_supported(const std::string& scratch_dir);

// Whether the sandbox's namespaces (mount, PID, UTS, IPC) can be created and a bind
// mount made in them, probed in a child that leaves nothing behind. The error names the
// step that was refused (e.g. "unshare (new namespaces): Operation not permitted"); run
// with chroot_only there.
layers::Result<void> probe_namespaces(const std::string& scratch_dir);

// The paths, relative to the root, that chroot_only mode writes for the run and puts
// back after: a diff of the root must skip them.
inline constexpr const char* kChrootEtcFiles[] = {"etc/hosts", "etc/resolv.conf", "etc/hostname"};

// Docker's PATH, for an image whose Env sets none (RUN, `hoist run`, and the build's
// config of an image that has no PATH).
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";


}  // namespace runtime::sandbox
