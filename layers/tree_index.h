#pragma once
// The fallback for hosts without overlayfs: snapshot a tree's metadata before a RUN, and
// afterwards diff the changed tree against the snapshot.
//
// What counts as a change is layers/same_entry.h's rule, which the overlay executor applies
// too: an entry is changed when its type, mode, owner, device number, symlink target, the
// xattrs a layer carries, or (for non-directories) size or mtime differ. Directory mtimes
// are ignored (creating and removing a file in /etc must not put /etc in the layer). When
// all of those are unchanged:
//  - same inode: changed only when a name was linked to it (link count up, so the layer
//    keeps the hard link); chmod/chown/touch -d to the values it had, or a write that left
//    it as it was, is no change. Bytes are not kept: a write whose mtime was put back to
//    the nanosecond is not seen (the overlay executor compares bytes and sees it);
//  - a new inode (replaced by an identical-looking file): its contents are compared against
//    `original_root` when the caller kept one; without it, it counts as changed (the
//    overlay executor compares bytes with the lower layers and may find it unchanged).
// A directory that was replaced (a directory where a non-directory was, or a directory with
// a new inode, as `rm -rf d && mkdir d` gives unless the filesystem reuses the inode) is
// listed as Opaque too, with everything beneath it, as overlay records it; the entries it
// held before get no whiteouts of their own.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "layers/diff.h"
#include "layers/error.h"

namespace layers {

struct IndexEntry {
  std::string path;  // relative, '/'-separated, as in DiffEntry
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t mtime_sec = 0, mtime_nsec = 0;
  int64_t ctime_sec = 0, ctime_nsec = 0;
  uint64_t ino = 0;
  uint64_t nlink = 0;
  uint64_t rdev = 0;
  std::string link_target;  // symlinks only
  std::vector<std::pair<std::string, std::string>> xattrs;  // layer_xattrs (same_entry.h)
};

class TreeIndex {
 public:
  // Walks `root` without following symlinks. Entries come depth first, names sorted
  // byte-wise within a directory. A tree deeper than 512 directories fails InvalidInput.
  static Result<TreeIndex> snapshot(const std::string& root);

  const std::string& root() const { return root_; }
  const std::vector<IndexEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const IndexEntry* find(const std::string& path) const;

 private:
  std::string root_;
  std::vector<IndexEntry> entries_;  // in walk order
  std::vector<size_t> by_path_;      // indexes into entries_, sorted by path
};

// Compares the tree at `before.root()` as it is now with `before`. The result reads
// AddOrChange entries from that root; every changed entry's parent directories are
// listed too (as overlay's copy-up would), and a deleted directory is one Delete, not
// one per child. `original_root`, if not empty, is an unchanged copy of the tree as
// indexed, used to settle doubtful files by content. Paths in `ignored` (relative) are
// never reported, whatever happened to them (files a sandbox put back after the run).
Result<TreeDiff> diff_against_index(const TreeIndex& before, const std::string& original_root = {});

// The same, also returning the index of the tree as it is now, which is the `before` of
// the next change to it (saving a walk).
struct IndexDiff {
  TreeDiff diff;
  TreeIndex after;
};
Result<IndexDiff> diff_and_reindex(const TreeIndex& before, const std::string& original_root = {},
                                   const std::vector<std::string>& ignored = {});

}  // namespace layers
