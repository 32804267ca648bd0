#pragma once
// The build context: the directory `hoist build` was given, seen through .dockerignore,
// and the content digests that COPY/ADD cache keys are made of.
//
// Paths handed to and returned by this class are relative to the context root,
// '/'-separated, cleaned. The ignore file is the first of
// parser::ignore_file_candidates() that exists; a malformed pattern in it fails open().

#include <sys/stat.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/context_memo.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/unique_fd.h"
#include "parser/dockerignore.h"

namespace builder {

// `hoist build -`, as `docker build -`: stdin is a tar of the context (plain, gzip, bzip2,
// xz or zstd), unpacked by the one layer applier (layers::unpack_layer, whiteout names kept
// as ordinary names, ".." and symlink escapes refused) into `dir`; or, when it is no
// archive, the Dockerfile itself, with no context.
// The Dockerfile is `dockerfile` ("" for Dockerfile) inside the tar, read beneath the
// context root as COPY sources are (a symlink named Dockerfile cannot read the host).
struct StdinContext {
  std::string dir;              // the unpacked context; empty when stdin was a Dockerfile
  std::string dockerfile_text;  // the Dockerfile: stdin itself, or the tar's
};
// Reads `fd` to its end into `scratch` (a fresh directory the caller owns and removes).
layers::Result<StdinContext> read_stdin_context(int fd, const std::string& scratch, const std::string& dockerfile);

class BuildContext {
 public:
  // `dir` must be a directory. `dockerfile_path` is where the Dockerfile came from ("-"
  // for stdin), for the `<Dockerfile>.dockerignore` rule.
  static layers::Result<BuildContext> open(const std::string& dir, std::string_view dockerfile_path);
  // A context with nothing in it (`-f -` with no usable directory, or tests).
  static BuildContext empty();

  const std::string& dir() const { return dir_; }
  const parser::IgnoreRules& ignore() const { return ignore_; }
  bool excludes(std::string_view rel) const { return !rel.empty() && rel != "." && ignore_.excludes(rel); }

  // The memo of this context's file digests (builder/context_memo.h), or null: none is
  // kept for a context that is a scratch copy (`hoist build -`).
  ContextMemo* memo() const { return memo_.get(); }
  void keep_memo(std::shared_ptr<ContextMemo> memo) { memo_ = std::move(memo); }

 private:
  std::string dir_;
  parser::IgnoreRules ignore_;
  std::shared_ptr<ContextMemo> memo_;
};

// Reading a source tree (the context, or a stage's root for COPY --from) without ever
// leaving it. Paths are relative to the tree's root; every symlink on the way is
// resolved inside the root as a chrooted process would (an absolute target starts at
// the root, ".." stops there), as BuildKit resolves COPY sources.

// The physical path of `fd` (an open descriptor beneath `root_fd`) relative to the root:
// "" for the root itself, no symlinks in it. Reads /proc/self/fd. InvalidInput if it is
// not beneath the root (it cannot be, when opened with layers::open_in_root_clamped).
layers::Result<std::string> path_in_root(int root_fd, int fd);

// An entry of a source tree, not followed: an O_PATH descriptor and its stat.
struct SourceEntry {
  layers::UniqueFd fd;
  struct stat st {};
};

// Opens `rel` beneath `root_fd`, every component but the last resolved inside the root,
// the last not followed. Errors (errno's kind) name `rel`.
layers::Result<SourceEntry> open_source_entry(int root_fd, const std::string& rel);

// Opens the regular file `rel` for reading, as open_source_entry resolves it, and checks
// it is still the entry `expected` (same device, inode, and a regular file): a FIFO or a
// device is never opened, and one swapped in meanwhile fails with InvalidInput.
layers::Result<layers::UniqueFd> open_source_data(int root_fd, const std::string& rel,
                                                  const struct stat& expected);

// The same for a file hoist made or extracted, at the host path `path` (a here-document's
// body, an ADD URL's download, an ADD archive's file in its staging directory).
layers::Result<layers::UniqueFd> open_file_data(const std::string& path, const struct stat& expected);

// The target of the symlink `entry` (opened by open_source_entry at `rel`).
layers::Result<std::string> read_source_link(const SourceEntry& entry, const std::string& rel);

// Hashes what a copy reads, so a cache key follows content and metadata but not mtime
// (as BuildKit's content hash) nor the source's owner (never written: COPY sets 0:0 or
// --chown): add() each (destination, source path) in a fixed order; regular files by
// their bytes, symlinks by target, devices by number, everything by type and mode. `rel` is read beneath
// `root_fd` as open_source_entry reads it; only a regular file's data is ever read.
// Each entry added is also listed by its source path ("." for the root), for
// `hoist build --explain` to name the file that changed.
struct EntryInput {
  uint32_t mode = 0;   // st_mode: type and permissions
  std::string digest;  // of a file's bytes, a link's target, a device's number; "" for a directory
  bool operator==(const EntryInput&) const = default;
};
using EntryInputs = std::map<std::string, EntryInput>;
// The same as added, in order; a path may be in it twice (entry_inputs keeps the last).
// A list, not a map, because a rebuild reads it only when a step misses the cache; a
// deque, because a vector of 20,000 entries is copied to new pages each time it grows.
using EntryList = std::deque<std::pair<std::string, EntryInput>>;
EntryInputs entry_inputs(const EntryList& list);

// With a `memo` (builder/context_memo.h; the context's, when `root_fd` is the context), a
// regular file whose stat matches its memo entry is not read: the entry's digest is used.
class ContentHasher {
 public:
  explicit ContentHasher(ContextMemo* memo = nullptr) : memo_(memo) {}
  // `listed_st`, when given, is `rel`'s stat as its directory's listing saw it (fstatat,
  // not followed): a regular file the memo knows by it is neither opened nor read.
  layers::Result<void> add(std::string_view dest_rel, int root_fd, const std::string& rel,
                           const struct stat* listed_st = nullptr);
  void add_text(std::string_view text);
  layers::Digest finish();
  EntryList& entries() { return entries_; }
  // Regular files added, and how many of them were read (not found in the memo).
  size_t files() const { return files_; }
  size_t hashed() const { return hashed_; }

 private:
  layers::Sha256 hash_;
  std::string pending_;  // hashed in blocks: one sha256 update per entry costs more than the entry
  EntryList entries_;
  ContextMemo* memo_ = nullptr;
  size_t files_ = 0, hashed_ = 0;
};

}  // namespace builder
