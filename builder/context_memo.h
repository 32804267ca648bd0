#pragma once
// The context memo: what each regular file of a build context hashed to last time, so a
// rebuild stats the context and reads only the files that changed (issue 12, "Hash only
// what changed").
//
// A memo is a hint, never an input: a COPY/ADD cache key is made of content digests
// (builder/context.h's ContentHasher) whether a digest was read from the memo or computed,
// so the keys are the same with a memo, without one, or with a stale one.
//
// An entry maps a path beneath the context root (physical, as ContentHasher reads it) to
// the file's digest and the stat it had when it was hashed: device, inode, mode, size,
// mtime and ctime to the nanosecond. It is used only when all of those match the file's
// stat now; a write that puts mtime back (touch -d) still moves ctime. An entry is made
// only for a file whose mtime and ctime are older than the memo's load time minus a
// margin (racy-git): a write right after the hashing, within the timestamp granularity,
// would otherwise leave the stat unchanged. The margin is 100 ms (timestamps come from
// the kernel's coarse clock, a tick of at most 10 ms), 2 s for a timestamp without
// nanoseconds (a filesystem keeping seconds, or FAT's 2 s). This trusts the context's
// filesystem clock to agree with this machine's, as local filesystems do.
//
// One memo per context directory (its canonical path), in the store:
// Store::cache_dir()/context-<sha256 of the path>.memo, a strict line format ending with
// the count and the sha256 of the lines before it. A memo that is missing, truncated,
// corrupt, of another version or of another directory reads as empty (everything is
// hashed again). save() writes it only when this build changed something, under
// hoist-locks/context-<same>.lock, merged with what a concurrent build saved meanwhile,
// through write-temp-fsync-rename, so a reader always sees a whole file. Entries this
// build did not look at are kept while their file's stat still matches, so building one
// target does not forget another's files, and a deleted file's entry goes. Memory: the
// file's text (about 150 bytes per file), kept while the memo lives, and one hash-table
// node per file that points into it (about 100 bytes): no string is copied out of the
// text, so a rebuild of 20,000 files allocates 20,000 nodes, not 60,000 strings.
//
// Thread-safe: the stages of one build share it.

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "layers/digest.h"
#include "layers/error.h"
#include "layers/store.h"

namespace builder {

class ContextMemo {
 public:
  // The memo of the context directory `context_dir` in `store`; empty when there is none
  // or it cannot be trusted. Its load time is the racy-git reference for record().
  // The file is read by the first call below that needs it: a walk's first directories
  // are listed ahead meanwhile (builder/dir_listing.h).
  static std::shared_ptr<ContextMemo> load(const layers::Store& store,
                                           const std::string& context_dir);

  // The digest ("sha256:...") remembered for the regular file `rel` when `st` is the stat
  // it was hashed with; nullopt (counted as a file to hash) otherwise.
  std::optional<std::string> find(const std::string& rel, const struct stat& st);
  // `rel`, whose stat was `st` before it was read and still is after, hashed to `digest`:
  // remembered unless its times are too recent (see above).
  void record(const std::string& rel, const struct stat& st, const layers::Digest& digest);

  // Writes the memo when this build added, replaced or dropped an entry; else nothing.
  layers::Result<void> save();

  // For `hoist prune`: removes each memo in `store` whose context directory (the path its
  // "dir" line records) no longer exists, under that memo's lock. A memo that cannot be
  // read, or whose directory cannot be checked (EACCES), is left. Returns how many went.
  static layers::Result<size_t> prune(const layers::Store& store);

  // Regular files looked up, and how many of them were hashed, since load().
  uint64_t files() const { return files_; }
  uint64_t hashed() const { return hashed_; }
  const std::string& path() const { return path_; }

  // The memo text of `entries` (the format load() reads), and back; nullopt when `text` is
  // not a whole memo of `context_dir`. Public for tests of the format.
  struct Stamp {
    uint64_t dev = 0, ino = 0;
    uint32_t mode = 0;
    int64_t size = 0;
    int64_t mtime_sec = 0, mtime_nsec = 0, ctime_sec = 0, ctime_nsec = 0;
    static Stamp of(const struct stat& st);
    bool operator==(const Stamp&) const = default;
  };
  // An entry's path and digest are views: into the text parse() read (which the caller
  // keeps while the entries are used), or into strings the memo keeps (record()).
  struct Entry {
    Stamp stamp;
    std::string_view hex;  // the sha256 digest's 64 hex characters
    bool is_seen = false;  // looked at by this build (else checked by stat before it is kept)
  };
  using Entries = std::unordered_map<std::string_view, Entry>;
  static std::string format(const std::string& context_dir, const Entries& entries);
  static std::optional<Entries> parse(const std::string& context_dir, std::string_view text);

 private:
  ContextMemo() = default;
  void read_once();  // under mutex_
  std::string_view keep(std::string text);  // under mutex_: `text`, kept while the memo lives

  std::string context_dir_;  // canonical
  std::string path_;
  std::string lock_path_;
  int64_t loaded_sec_ = 0, loaded_nsec_ = 0;  // CLOCK_REALTIME at load()
  std::mutex mutex_;
  std::deque<std::string> kept_;  // what entries_ points into: memo texts read, recorded names and digests
  Entries entries_;
  bool is_read_ = false;  // entries_ holds what path_ had (read_once)
  bool is_changed_ = false;
  std::atomic<uint64_t> files_ = 0, hashed_ = 0;
};

}  // namespace builder
