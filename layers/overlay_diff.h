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

#include <string>

#include "layers/diff.h"
#include "layers/error.h"

namespace layers {

// Reads `upper_dir` (never following symlinks) and returns its changes with source_root set
// to `upper_dir`. Needs to run as root (trusted.* xattrs are only visible to
// CAP_SYS_ADMIN). A tree deeper than kMaxOverlayDiffDepth fails with InvalidInput.
Result<TreeDiff> diff_overlay_upper(const std::string& upper_dir);

inline constexpr int kMaxOverlayDiffDepth = 512;

}  // namespace layers
