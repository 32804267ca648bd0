#pragma once
// Applies a layer tar (plain, gzip or zstd; found from its first bytes) to a directory with
// OCI semantics, treating the tar as hostile.
//
// OCI semantics, as docker's applier has them (WhiteoutMode::Apply; see Overlay below):
//  - ".wh.<name>" deletes <name> (recursively) from what lower layers left;
//    ".wh..wh..opq" empties its directory of everything this layer did not itself write;
//    other ".wh..wh.*" names (aufs bookkeeping) are skipped.
//  - An entry replaces whatever was at its path, except that a directory entry over an
//    existing directory only updates its metadata (the contents merge).
//  - Hardlinks name a path already beneath the root (this layer's or a lower one's).
//  - Parents the tar leaves out are made 0755, 0:0, and (but for WhiteoutMode::Keep) dated
//    0, as the layer index has them (layers/layer_index.h), never the time of the unpacking.
//  - Owners are the numeric uid/gid in the tar (names are ignored); modes, mtimes (dirs
//    last, so their children do not disturb them), device nodes, FIFOs and xattrs
//    (user.* and security.capability; any other namespace is skipped with a warning) are
//    restored.
//
// Safety: every path is resolved inside `root` as a chroot into it would resolve it, as
// docker unpacks (layers/resolve_in_root.h): symlinked parents are followed, an absolute
// symlink from the root (Debian's var/run -> /run: an entry "var/run/x" lands in
// ROOT/run/x), but ".." never climbs above the root and no magic link is followed; the
// final component is never followed (O_NOFOLLOW, *at calls with AT_SYMLINK_NOFOLLOW,
// unlinkat/mkdirat/symlinkat/mknodat relative to the parent's descriptor). Refused with
// InvalidInput naming the entry: absolute names, ".." components, a parent whose
// resolution climbs above the root (a symlink to "..", "/..", a chain of them) or ends at
// a symlink to nothing, a hardlink whose target is absolute, climbs out, is missing or is
// a directory, and a whiteout of "." or "..". Nothing outside `root` is ever created,
// changed, removed or followed. In WhiteoutMode::Overlay the layer is alone in `root`,
// so its paths resolve through its own symlinks only (as docker's overlay2 driver
// unpacks a layer into its own diff directory).
// Names are bytes: UTF-8 when the tar says so (PAX), else stored byte-exact (invalid UTF-8
// included). Refused too: a name longer than PATH_MAX (4096) bytes, a component longer
// than NAME_MAX (255), a symlink or hardlink target longer than PATH_MAX, and a layer
// past the UnpackOptions limits (tar bombs; the error names the limit and the entry).
// Symlink entries are stored as they are (their targets are the image's business).
// Entries before a refused one stay written, so callers unpack into a scratch directory
// and rename it into place on success.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "layers/digest.h"
#include "layers/error.h"

namespace layers {

enum class WhiteoutMode {
  // Whiteouts delete from `root`, which holds the lower layers already: a flat rootfs.
  Apply,
  // Whiteouts are kept in overlayfs' form, for a layer unpacked alone into its own
  // directory to be stacked as an overlay lowerdir: ".wh.<name>" becomes a 0:0 character
  // device <name>, ".wh..wh..opq" the xattr trusted.overlay.opaque="y" on its directory.
  // Nothing is deleted. Needs root (mknod, trusted.* xattrs).
  Overlay,
  // Whiteout names are ordinary names: ".wh.x" is stored as the file ".wh.x". For a tar
  // that is not a layer: ADD of a local archive, which docker and BuildKit extract with
  // moby's archive.Untar, whose default (AUFS) whiteout format converts nothing. As
  // Untar does, a leading "/" of a name or hardlink target is dropped (the entry lands
  // beneath `root`) instead of refused; ".." and symlink escapes are refused as ever.
  Keep,
};

// Defaults of the tar bomb limits below. Generous for real images (the largest layers
// seen are tens of GB and a few hundred thousand entries), far below what fills a disk.
inline constexpr uint64_t kDefaultMaxUnpackBytes = uint64_t(64) << 30;  // 64 GiB
inline constexpr uint64_t kDefaultMaxUnpackEntries = 4'000'000;

struct UnpackOptions {
  WhiteoutMode whiteouts = WhiteoutMode::Apply;
  // chown entries to the tar's uid/gid. Off for an unprivileged caller.
  bool restore_owners = true;
  // Called for what is skipped or adjusted but not fatal (libarchive warnings, xattrs of
  // other namespaces). May be empty.
  std::function<void(std::string_view)> warn;
  // Refuse (InvalidInput, naming the limit and the entry) a tar whose regular files'
  // declared sizes add up past max_bytes, or with more than max_entries entries. Sizes
  // are counted from the headers, before any data is written, so a sparse or lying entry
  // cannot fill the disk first.
  uint64_t max_bytes = kDefaultMaxUnpackBytes;
  uint64_t max_entries = kDefaultMaxUnpackEntries;
  // Let libarchive find the compression (gzip, bzip2, xz, zstd, lz4, ...) instead of the
  // layer reader (plain, gzip, zstd): for ADD of a local archive. The returned digest is
  // then the sha256 of the bytes read from `tar_fd`, not of an uncompressed stream.
  bool any_compression = false;
  // When set, only entries it answers true for are applied, the rest read past: it is
  // given an entry's clean name, a whiteout's the path it removes, an opaque marker's its
  // directory. For a partial root filesystem (runtime::materialize_sources).
  std::function<bool(const std::string& rel)> only;
  // Start writing each regular file to disk as soon as its bytes are in (sync_file_range's
  // SYNC_FILE_RANGE_WRITE: queued, not waited for), so that a caller who syncs the
  // filesystem afterwards (layers/unpacked_cache.h) finds little left to write.
  bool start_writeback = false;
};

// A tar entry's name as a clean relative path ("" for the root itself): leading "./" and
// repeated or trailing slashes are tolerated; an absolute name (unless `is_archive`, which
// drops the "/") and ".." are InvalidInput, the message the reason alone.
Result<std::string> normalize_entry_name(std::string_view name, bool is_archive);

// A symlink target the applier makes: shorter than PATH_MAX (symlinkat's limit), else
// InvalidInput, the message the reason alone. Never resolved here.
Result<void> check_symlink_target(std::string_view target);

// Unpacks the layer read from `tar_fd` (to its end) beneath `root`, which must exist.
// Returns the diff_id: the sha256 of the uncompressed tar stream, so a caller holding the
// expected one can check it (Corrupt is the caller's to report). Damaged compression or tar
// data is Corrupt; a refused entry is InvalidInput naming it; OS failures are Io naming
// the path. The fd is not closed. A layer (not any_compression) is read and decompressed
// in a thread of its own, a few MiB ahead of the one hashing and applying it
// (layers/read_ahead.h).
Result<Digest> unpack_layer(const std::string& root, int tar_fd, const UnpackOptions& options = {});

}  // namespace layers
