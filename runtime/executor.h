#pragma once
// Which executor runs RUN: overlay (the command writes into an overlayfs upper dir, which
// is the layer) or copy (the command runs on a private copy of the stage's root, and the
// layer is the diff against an index taken before; see builder/root_copy.h). The user
// picks with `hoist build --snapshotter auto|overlay|copy` or HOIST_SNAPSHOTTER; auto
// probes overlayfs once and falls back to copy, saying why.

#include <optional>
#include <string>
#include <string_view>

#include "layers/error.h"

namespace runtime {

enum class Snapshotter { Auto, Overlay, Copy };

// "auto", "overlay", "copy"; false for anything else.
bool parse_snapshotter(std::string_view text, Snapshotter* out);

// What the user asked for, and how (for messages): "--snapshotter " or "HOIST_SNAPSHOTTER=".
struct SnapshotterChoice {
  Snapshotter wanted = Snapshotter::Auto;
  std::string asked_by = "--snapshotter ";
};

// The flag's value when given, else HOIST_SNAPSHOTTER (Usage naming the variable for an
// unknown value), else auto.
layers::Result<SnapshotterChoice> resolve_snapshotter(std::optional<Snapshotter> flag);

struct RunExecutor {
  enum class Kind { Overlay, Copy };
  Kind kind = Kind::Overlay;
  // Copy only: new namespaces or mounts are not permitted here (an unprivileged
  // container), so the command runs chrooted into the copy (SandboxSpec::chroot_only).
  bool chroot = false;
  // What the build prints after "RUN executor: ": "overlay", "copy (overlayfs
  // unavailable: <reason>)", "copy (--snapshotter copy)", or, where the sandbox's
  // namespaces cannot be made, "copy+chroot (no mount namespace: <reason>; RUN sees no
  // /proc, /sys or devpts)" (after "--snapshotter copy; " when copy was asked for).
  std::string description;
};

// Decides for `choice`, probing whether overlayfs can be mounted on `scratch_dir`'s
// filesystem (not for Copy). Overlay asked for but unavailable is an Unsupported error
// with the reason.
layers::Result<RunExecutor> choose_run_executor(const SnapshotterChoice& choice,
                                                const std::string& scratch_dir);

}  // namespace runtime
