#pragma once
// Turns the upper dir of an overlayfs mount into the TreeDiff of one layer, so the layer a
// RUN produces costs what the command changed, not what the image holds.
//
// Overlay records changes in its own format; this maps them onto OCI's:
//   character device 0:0 (a whiteout)          -> Delete
//   zero-size file with trusted.overlay.whiteout -> Delete   (kernel >= 6.7 "xwhiteout")
//   directory with trusted.overlay.opaque = "y"  -> AddOrChange, then Opaque
//   anything else                                -> AddOrChange
// Entries come depth first, names sorted byte-wise within a directory, each directory
// before what it holds, so the tar writer can stream them as they are.
//
// An upper dir written by a mount with redirect_dir or metacopy enabled cannot be turned
// into a layer (a renamed directory or a metadata-only copy-up points into a lower layer):
// the sandbox mounts with both off, and an entry carrying trusted.overlay.redirect or
// trusted.overlay.metacopy fails the call with Unsupported naming it.
//
// Note for the tar writer: trusted.overlay.* xattrs (origin, impure, opaque, ...) are
// overlay's bookkeeping and must not be copied into the layer.

#include <functional>
#include <string>
#include <vector>

#include "layers/diff.h"
#include "layers/error.h"

namespace layers {

// Reads `upper_dir` (never following symlinks) and returns its changes with source_root set
// to `upper_dir`. Needs to run as root (trusted.* xattrs are only visible to
// CAP_SYS_ADMIN). A tree deeper than kMaxOverlayDiffDepth fails with InvalidInput.
Result<TreeDiff> diff_overlay_upper(const std::string& upper_dir);

inline constexpr int kMaxOverlayDiffDepth = 512;

// Drops from `diff` (as diff_overlay_upper made it) the copy-ups that are no change: an
// AddOrChange entry whose lower counterpart is the same by layers/same_entry.h's rule (a
// file opened for writing and left alone, chmod/chown/touch -d to the values it had), and
// then every directory that is the same as its lower one and holds nothing left in the
// diff. `lower_path(rel)` is the host path of `rel` in the lower layers as the merged tree
// shows it, "" when they have none. Entries at or beneath an Opaque directory stay, and so
// does a regular file with more than one link in the upper dir (a hard link the command
// made). Returns the dropped paths, children before their directories, so the caller can
// remove them from the upper dir (they are copies of the lower entries).
Result<std::vector<std::string>> drop_unchanged_copy_ups(
    TreeDiff& diff, const std::function<std::string(const std::string& rel)>& lower_path);

}  // namespace layers
