#pragma once
// When a file is not a change: the rule both RUN executors apply, so the same command
// gives the same layer whichever ran it. An entry whose content and metadata equal the
// lower's is not part of the layer, however it was touched (opened for writing and left
// alone, chmod/chown/touch -d to the values it had, an overlay copy-up); a real change
// to any of them (a `touch` moving the mtime, a byte written) is.
//
// "Metadata" is what the layer records of an entry (layers/tar_writer.h): type, mode,
// owner, device number, a symlink's target, the xattrs a layer carries (user.* and
// security.capability), and, for non-directories, size and mtime to the nanosecond
// (overlay's copy-up keeps the mtime, so a copied-up file compares equal). Directory
// sizes and mtimes follow their entries and are not compared.

#include <string>
#include <utility>
#include <vector>

#include "layers/error.h"

namespace layers {

using Xattrs = std::vector<std::pair<std::string, std::string>>;

// The xattrs of `path` (not following a final symlink) a layer carries, sorted by name.
// Empty where the filesystem has none (ENOTSUP).
Result<Xattrs> layer_xattrs(const std::string& path);

// Whether two regular files hold the same bytes (neither is followed if a symlink).
Result<bool> same_contents(const std::string& a, const std::string& b);

// Whether the entry at `path` equals the entry at `lower` by the rule above, bytes of
// regular files included. Neither is followed if a symlink; Io errors name the path.
Result<bool> same_entry(const std::string& path, const std::string& lower);

}  // namespace layers
