#pragma once
// Writes a layer: a TreeDiff becomes a tar stream (through libarchive), compressed and
// hashed in the same pass (LayerEncoder), with nothing staged on disk.
//
// The tar is what `docker build` layers look like, made reproducible:
//  - PAX format (extended headers only where ustar cannot say it: long names, big ids,
//    xattrs), entries sorted byte-wise by path, directories written as "dir/".
//  - Numeric uid/gid as found in the source tree; user and group names left empty.
//  - mtimes in whole seconds; with `source_date_epoch` set, every mtime later than it is
//    clamped to it. No atime/ctime. The same tree always gives the same bytes (and so the
//    same diff_id and digest), whatever its readdir order.
//  - Regular files, directories, symlinks, char/block devices and FIFOs. Sockets are
//    skipped (tar cannot hold them; Docker skips them too).
//  - Hardlinks are kept within the layer: of the paths sharing one inode, the first in
//    sorted order holds the data and the later ones are hardlink entries naming it.
//  - xattrs: user.* and security.capability only. trusted.* (overlay's bookkeeping),
//    security.selinux and system.* (ACLs) are host details and are never written.
//  - Delete entries become ".wh.<name>" and Opaque entries "<dir>/.wh..wh..opq": empty
//    regular files, mode 0, owner 0:0, mtime 0.
//
// Source entries are read beneath diff.source_root without following symlinks, in the
// final component or in any parent; a path that would leave the root fails the call.
// A file whose size changes while it is read fails the call (Io naming it) rather than
// producing a tar that lies.

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layers/compress.h"
#include "layers/diff.h"
#include "layers/error.h"
#include "layers/unique_fd.h"

namespace layers {

struct WriteOptions {
  Compression compression = Compression::Gzip;
  std::optional<int64_t> source_date_epoch;  // clamp mtimes to this (seconds since 1970)
  int threads = 0;                           // see LayerEncoder::create
};

// Writes the layer for `diff` to `out`: the entries' metadata is read first (a GivenEntry
// each, ~300 bytes of memory per entry), then write_given_layer writes them, the files'
// bytes read ahead in its thread. Fails with InvalidInput for an entry path that is
// not a clean relative path (empty, absolute, "." or ".." components), NotFound for an
// AddOrChange entry missing from source_root, or the sink's own error. Entries listed
// twice are written once.
Result<LayerDigests> write_layer(const TreeDiff& diff, const WriteOptions& options, ByteSink out);

// An entry of a layer whose metadata the caller gives instead of a tree on disk (a COPY
// written straight from its sources, builder/copy.cpp).
struct GivenEntry {
  std::string path;  // a clean relative path
  // What the header says: st_mode (type and permissions), st_uid, st_gid, st_mtim (seconds
  // kept), st_size for a regular file, st_rdev for a device. Nothing else is read.
  struct stat st {};
  std::string link_target;  // a symlink's
  // A regular file that is a hardlink to this earlier entry's path: no bytes of its own.
  std::string hardlink;
  std::vector<std::pair<std::string, std::string>> xattrs;  // written as they are (SCHILY.xattr)
  // A whiteout or opaque marker: an empty regular file that has no source, so nothing is
  // opened or read for it.
  bool is_marker = false;
  // Whether the entry's bytes come from the DataOpener: a regular file, not a hardlink or
  // a marker.
  bool has_bytes() const { return S_ISREG(st.st_mode) && hardlink.empty() && !is_marker; }
};

// Opens the bytes of entries[index], one that has_bytes(): st_size bytes, checked while read (a
// file that grew or shrank fails the layer, naming it). Called in a thread of its own (the
// files are read ahead of the tar), in entry order, once per such entry.
using DataOpener = std::function<Result<UniqueFd>(size_t index)>;

// Writes `entries` (sorted byte-wise by path, each path once: InvalidInput otherwise) as a
// layer: the tar write_layer writes for a tree holding the same entries.
Result<LayerDigests> write_given_layer(const std::vector<GivenEntry>& entries, const DataOpener& open_data,
                                       const WriteOptions& options, ByteSink out);

// A TreeDiff adding every entry beneath `root` (not `root` itself), for a layer holding a
// whole directory: COPY into a scratch dir, `hoist import DIR`. Symlinks are not followed.
Result<TreeDiff> diff_of_directory(const std::string& root);

// write_layer(diff_of_directory(root), ...).
Result<LayerDigests> write_directory_layer(const std::string& root, const WriteOptions& options,
                                           ByteSink out);

// Reads SOURCE_DATE_EPOCH from the environment: nullopt when unset or empty, InvalidInput
// when it is not a non-negative decimal integer of seconds.
Result<std::optional<int64_t>> source_date_epoch_from_env();

}  // namespace layers
