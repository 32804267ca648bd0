#pragma once
// The content-addressed half of the store: ROOT/blobs/sha256/<hex>, as the OCI image
// layout has it. Every file there is named by the sha256 of its bytes, and nothing else
// ever appears there:
//
//  - A blob is written to a temp file in ROOT/hoist-tmp/ (not under blobs/, so skopeo,
//    umoci and `hoist fsck` never see half-written data), hashed while written, fsynced,
//    and renamed to blobs/sha256/<hex> only when its digest is the one expected. The
//    blobs directory is fsynced after the rename. A crash at any moment leaves at worst a
//    stray temp file, which `hoist prune` removes (a live writer holds an flock on its
//    temp file, so prune never takes one that is still being written).
//  - Blobs are immutable once named. Writing a blob that already exists is a no-op that
//    returns its digest.
//
// Thread-safety: a BlobStore is a path and can be shared; each BlobWriter belongs to one
// thread. Several processes may write to one store at once.
//
// Deleting blobs is `remove()`, used by prune only; writers that must not lose a blob
// between writing it and tagging an image hold Store::gc_shared_lock() (see store.h).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "layers/digest.h"
#include "layers/direct_io.h"
#include "layers/error.h"
#include "layers/unique_fd.h"

namespace layers {

// Who hashes a blob's bytes as they are written. ByCaller is for bytes this process makes
// and hashes anyway (a layer writer's tar or compressed stream, layers/compress.h): the
// writer skips its own sha256 pass and commit() names the blob by the digest it is given.
// Never for bytes from outside (a download, an archive): those are ByWriter.
enum class Hashing { ByWriter, ByCaller };

// Whether a blob goes to disk through the page cache. Bypass is for a big blob that
// nothing reads soon and that has to be on disk before it is named anyway (a layer a build
// writes: a RUN's layer stays unpacked for the next RUN, a push reads the blob): its bytes go
// to the disk in kDirectPiece pieces with O_DIRECT, so it is not written twice (into the
// cache, then to disk) and commit's fsync has almost nothing left to do. Where the
// filesystem refuses O_DIRECT (tmpfs on older kernels), the blob is written as with Use.
enum class PageCache { Use, Bypass };
inline constexpr size_t kDirectPiece = size_t(1) << 20;

// Streams one blob into the store. Not copyable; moving transfers the temp file.
// Destroying a writer that was not committed removes its temp file.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;
  ~BlobWriter();

  Result<void> write(std::span<const std::byte> data);
  Result<void> write(std::string_view data);
  uint64_t bytes_written() const { return bytes_written_; }
  // Of those, the bytes on the file: all of them, but for a PageCache::Bypass writer, only
  // the pieces its thread has written (the last ones are on their way; a short last piece
  // waits for commit).
  uint64_t bytes_on_file() const;
  // A descriptor reading the blob being written (its temp file): bytes_on_file() bytes of
  // it are there once write() returns, for a reader that follows the writer (a push
  // uploading a layer while it is compressed). It stays readable after commit or discard.
  // A PageCache::Bypass writer's reader reads past the cache too: it has O_DIRECT, when the
  // writer's descriptor has it, so its reads want page-aligned offsets, sizes and buffers.
  Result<UniqueFd> open_reader() const;

  // fsyncs, checks the digest against `expected` (when given), and names the blob. On a
  // mismatch: Corrupt naming both digests, and the temp file is removed. After commit
  // (successful or not) the writer is spent; further calls fail. A Hashing::ByCaller
  // writer names the blob `expected` unchecked, and without it is InvalidInput.
  Result<Digest> commit(std::optional<Digest> expected = std::nullopt);

 private:
  friend class BlobStore;
  BlobWriter(std::string blobs_dir, std::string tmp_path, UniqueFd fd, Hashing hashing);
  void discard();

  std::string blobs_dir_;
  std::string tmp_path_;
  UniqueFd fd_;
  Hashing hashing_ = Hashing::ByWriter;
  Sha256 hash_;
  uint64_t bytes_written_ = 0;
  // PageCache::Bypass (O_DIRECT granted): the bytes gather in a page-aligned piece of
  // kDirectPiece bytes; a full piece goes to a thread of the writer's own, which writes it
  // while the caller fills the next (blob_store.cpp). Null for PageCache::Use.
  struct DirectPieces;
  std::unique_ptr<DirectPieces> pieces_;
};

class BlobStore {
 public:
  // Uses (and creates when missing) ROOT/blobs/sha256 and ROOT/hoist-tmp.
  static Result<BlobStore> open(const std::string& root);

  const std::string& root() const { return root_; }
  const std::string& blobs_dir() const { return blobs_dir_; }  // ROOT/blobs/sha256
  const std::string& tmp_dir() const { return tmp_dir_; }      // ROOT/hoist-tmp

  bool has(const Digest& digest) const;
  std::string path_of(const Digest& digest) const;  // whether or not it exists
  // NotFound when the blob is missing.
  Result<UniqueFd> open_read(const Digest& digest) const;
  Result<uint64_t> size(const Digest& digest) const;
  // Reads a whole blob of at most `max_bytes` (InvalidInput above that) and checks its
  // digest (Corrupt on mismatch). For JSON blobs: manifests, configs, indexes.
  Result<std::string> read_all(const Digest& digest, size_t max_bytes) const;

  Result<Digest> put_bytes(std::string_view data) const;
  Result<BlobWriter> begin_write(Hashing hashing = Hashing::ByWriter, PageCache cache = PageCache::Use) const;
  // Copies blob `digest` from `source` (another store, an OCI layout) into this one,
  // streamed and verified: Corrupt when its bytes are not `digest`, and nothing lands.
  // A no-op when this store has it already.
  Result<void> copy_from(const BlobStore& source, const Digest& digest) const;

  // Re-hashes a stored blob: Corrupt if its bytes do not match its name.
  Result<void> verify(const Digest& digest) const;
  // NotFound when missing.
  Result<void> remove(const Digest& digest) const;

  struct Listing {
    std::vector<Digest> blobs;        // well-named files in blobs/sha256
    std::vector<std::string> strays;  // anything else there (names only)
  };
  Result<Listing> list() const;

  // Removes temp files and directories in hoist-tmp/ whose writer is gone (no flock held
  // on them; a directory holding a mount point stays). Returns how many were removed.
  // Callers hold the store's exclusive gc lock, so a writer that does not flock its temp
  // file holds gc_shared_lock instead and cannot be running.
  Result<size_t> remove_dead_temp_files() const;

 private:
  BlobStore(std::string root, std::string blobs_dir, std::string tmp_dir)
      : root_(std::move(root)), blobs_dir_(std::move(blobs_dir)), tmp_dir_(std::move(tmp_dir)) {}
  std::string root_;
  std::string blobs_dir_;
  std::string tmp_dir_;
};

// Small filesystem helpers the store shares with its users.

// mkdir -p; Io error naming the directory on failure.
Result<void> make_dirs(const std::string& path);
// Writes `data` to `path` atomically: temp file beside it, fsync, rename, fsync the dir.
Result<void> write_file_atomic(const std::string& path, std::string_view data);
// Reads a whole (small) file; InvalidInput above `max_bytes`, NotFound if missing.
Result<std::string> read_file(const std::string& path, size_t max_bytes);
// The same from an open descriptor, to its end; `what` names it in errors.
Result<std::string> read_fd(int fd, const std::string& what, size_t max_bytes);
Result<void> fsync_dir(const std::string& dir);
// Everything beneath the directory `dir` on disk (before it is named: layers/unpacked_cache.h),
// at a cost that follows the tree: fsync of each regular file and directory when there are
// at most kSyncEachEntries of them (a RUN that wrote two big files waits for those two, not
// for what other processes left dirty), else one syncfs(2) of its filesystem (which writes
// those too). Never follows a symlink; opens nothing but regular files and directories.
inline constexpr size_t kSyncEachEntries = 64;
Result<void> sync_tree(const std::string& dir);

}  // namespace layers
