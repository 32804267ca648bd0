#pragma once
// The fallback for hosts without overlayfs: snapshot a tree's metadata before a RUN, and
// afterwards diff the changed tree against the snapshot.
//
// What counts as a change matches Docker's naive differ: an entry is changed when its type,
// mode, owner, device number, symlink target, or (for non-directories) size or mtime
// differ. Directory mtimes are ignored (creating and removing a file in /etc must not put
// /etc in the layer). When a regular file's size and mtime are unchanged but its inode or
// ctime moved (a file rewritten with the same size and its mtime restored, or replaced by
// an identical-looking one), the contents are compared against `original_root` when the
// caller kept one; without it, such a file counts as changed.

#include <sys/types.h>

#include <cstdint>
#include <string>
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
  uint64_t rdev = 0;
  std::string link_target;  // symlinks only
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
// indexed, used to settle doubtful files by content.
Result<TreeDiff> diff_against_index(const TreeIndex& before, const std::string& original_root = {});

}  // namespace layers
