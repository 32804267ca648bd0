#include "runtime/executor.h"

#include <cstdlib>

#include "runtime/sandbox/sandbox.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

bool parse_snapshotter(std::string_view text, Snapshotter* out) {
  if (text == "auto")
    *out = Snapshotter::Auto;
  else if (text == "overlay")
    *out = Snapshotter::Overlay;
  else if (text == "copy")
    *out = Snapshotter::Copy;
  else
    return false;
  return true;
}

Result<SnapshotterChoice> resolve_snapshotter(std::optional<Snapshotter> flag) {
  if (flag) return SnapshotterChoice{*flag, "--snapshotter "};
  SnapshotterChoice choice{Snapshotter::Auto, "HOIST_SNAPSHOTTER="};
  const char* value = std::getenv("HOIST_SNAPSHOTTER");
  if (!value || !*value) return choice;
  if (!parse_snapshotter(value, &choice.wanted))
    return Error(ErrorKind::Usage, "HOIST_SNAPSHOTTER=" + std::string(value) +
                                       ": unknown snapshotter (want auto, overlay or copy)");
  return choice;
}

namespace {

// The copy executor, chrooted when the sandbox's namespaces cannot be created (probed
// here, once per build: the caller keeps the decision). `asked`: copy was asked for by
// name, which the chroot's description says too.
Result<RunExecutor> copy_executor(const std::string& why, bool asked, const std::string& scratch_dir) {
  auto namespaces = sandbox::probe_namespaces(scratch_dir);
  if (namespaces) return RunExecutor{RunExecutor::Kind::Copy, false, "copy (" + why + ")"};
  if (namespaces.error().kind() == ErrorKind::Cancelled) return std::move(namespaces).error();
  return RunExecutor{RunExecutor::Kind::Copy, true,
                     "copy+chroot (" + (asked ? why + "; " : std::string()) +
                         "no mount namespace: " + namespaces.error().describe() +
                         "; RUN sees no /proc, /sys or devpts)"};
}

}  // namespace

Result<RunExecutor> choose_run_executor(const SnapshotterChoice& choice,
                                        const std::string& scratch_dir) {
  if (choice.wanted == Snapshotter::Copy)
    return copy_executor(choice.asked_by + "copy", true, scratch_dir);
  auto probed = sandbox::probe_overlay(scratch_dir);
  if (probed) return RunExecutor{RunExecutor::Kind::Overlay, false, "overlay"};
  if (choice.wanted == Snapshotter::Overlay)
    return Error(ErrorKind::Unsupported,
                 choice.asked_by + "overlay: overlayfs cannot be mounted on " +
                     layers::quoted(scratch_dir) + ": " + probed.error().describe() +
                     " (use " + choice.asked_by + "copy)");
  return copy_executor("overlayfs unavailable: " + probed.error().describe(), false, scratch_dir);
}

}  // namespace runtime
