#pragma once
// Test helpers for directory trees: a self-removing temp dir, files made with a given
// mode, owner and mtime, and a readable description of a tree to compare two of them
// (after a round trip through a layer, say).
//
//   tests::TempDir a, b;
//   ... fill a, write a layer, unpack it into b ...
//   CHECK(tests::compare_trees(a.path(), b.path()).empty());
//
// On a failure Catch prints the differing lines, one per entry:
//   "bin/sh: expected f 0755 0:0 mtime=1700000000 size=5 sha256:... | got f 0700 ..."

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/temp_dir.h"

namespace tests {

// The shared temp dir (tests/support/temp_dir.h).
using TempDir = hoist_test::TempDir;

// A file at `path` holding `content`, owned uid:gid, with mode `mode` (set after the
// owner, which clears set-uid bits) and mtime `mtime`; REQUIREs each step.
void put_file(const std::string& path, std::string_view content, mode_t mode, int64_t mtime,
              uid_t uid = 0, gid_t gid = 0);
// Sets the mtime (and atime) of `path`, a symlink's own; REQUIREs it.
void set_mtime(const std::string& path, int64_t mtime);

struct TreeOptions {
  bool compare_mtimes = true;
  bool compare_owners = true;
};

// One line per entry beneath `root` (not root itself), sorted by path:
//   "<path> <type> <perm> <uid>:<gid> mtime=<s> <what> [xattr name=value ...]"
// type is f/d/l/c/b/p/s; <what> is "size=N sha256:..." for a file, "-> target" for a
// symlink, "dev=M,m" for a device, and "link=<path>" for a file sharing its inode with an
// earlier path in sorted order (so hardlink structure is compared, not inode numbers).
// xattrs shown are user.* and security.capability. Directory sizes are not shown.
std::vector<std::string> describe_tree(const std::string& root, const TreeOptions& options = {});

// The differences between two trees, readable; empty when they are the same.
std::vector<std::string> compare_trees(const std::string& expected, const std::string& actual,
                                       const TreeOptions& options = {});

}  // namespace tests
