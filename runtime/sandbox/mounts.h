#pragma once
// The sandbox's mounts. Every function here runs in the container's own mount namespace
// (after make_mounts_private), before pivot_root, with paths as the host sees them.

#include <string>
#include <vector>

#include "runtime/sandbox/sandbox.h"
#include "layers/error.h"

namespace runtime::sandbox {

// Detaches the mount at `target` on destruction unless released: a half-built container
// root comes apart on every early return.
class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  MountGuard(MountGuard&& other) noexcept : target_(std::exchange(other.target_, {})) {}
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard();
  void release() { target_.clear(); }

 private:
  std::string target_;
};

// Stops mounts from propagating back to the namespace we were copied from.
layers::Result<void> make_mounts_private();

struct OverlayLayers {
  std::vector<std::string> lower_dirs;  // top-most first, at least one
  std::string upper_dir, work_dir;      // both empty: a read-only overlay
};
// Mounts an overlay at `target`, nodev, with redirect_dir, metacopy and index off (so the upper dir
// is a self-contained layer). Uses the "lowerdir+" mount API where the kernel has it (no
// limit on layer count or path characters), else mount(2) with an option string, which
// refuses paths holding ',' ':' or '\\'.
layers::Result<MountGuard> mount_overlay(const OverlayLayers& layers, const std::string& target);

// Binds `root` onto itself so it is a mount point pivot_root accepts (rootfs mode), nodev
// (recursively), as the overlay root is.
layers::Result<void> bind_root_onto_itself(const std::string& root);
// Sets nodev on the mount at `target` and every mount beneath it.
layers::Result<void> set_nodev_recursive(const std::string& target);

// Makes the mount at `target` read-only (only it: the mounts beneath keep their flags).
layers::Result<void> set_read_only(const std::string& target);

// The host device nodes a container can open, as Docker's default device cgroup allows
// (plus its pts/ and ptmx, from the container's own devpts).
inline constexpr const char* kAllowedDevices[] = {"null", "zero", "full", "random", "urandom",
                                                  "tty"};

// /proc for the new PID namespace, with Docker's masked (kcore, keys, timer_list, ...) and
// read-only (sys, sysrq-trigger, irq, bus, fs) paths; `privileged`: none of them.
layers::Result<void> mount_proc(const std::string& root, bool privileged);
// Read-only sysfs at root/sys, when that directory exists, with Docker's masked paths
// (firmware, devices/virtual/powercap) hidden under empty tmpfs; `privileged`: writable and
// unmasked.
layers::Result<void> mount_sys(const std::string& root, bool privileged);
// nodev tmpfs /dev with null, zero, full, random, urandom and tty bound from the host's
// (the only device nodes that open), a private devpts at pts/ (ptmx linked to it), shm/,
// and the fd, stdin, stdout, stderr links.
layers::Result<void> mount_dev(const std::string& root);
// Bind-mounts one file over another (both must exist and be non-symlinks).
layers::Result<void> bind_file(const std::string& source, const std::string& target);
// "/a//b/./c/" -> "a/b/c" (relative to the container's root); a relative path or ".." is
// refused rather than interpreted.
layers::Result<std::string> normalize_container_path(const std::string& path);

// Attaches each RUN --mount at its target inside `root` (which must exist already, as a
// stub where the image lacks it; no symlink on the way): see StepMount.
layers::Result<void> mount_step_mounts(const std::string& root, const std::vector<StepMount>& mounts);

// Bind-mounts each host path at its container path, resolved inside `root` (symlinks in
// the container path cannot lead out of it), nodev; missing targets are created.
layers::Result<void> mount_binds(const std::string& root, const std::vector<BindMount>& binds);

}  // namespace runtime::sandbox
