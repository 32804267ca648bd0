#pragma once
// Unpacked layers, cached by diff_id, for the overlay-based RUN executor: DIR/<hex>/ holds
// one layer unpacked alone with WhiteoutMode::Overlay, ready to be one lowerdir of an
// overlay mount (lowerdir=DIR/<top>:...:DIR/<base>). A directory there is complete and
// never changes once named:
//
//  - A layer is unpacked into a scratch directory DIR/.tmp-<hex>-XXXXXX, its stream is
//    checked against the diff_id (Corrupt, scratch removed, on a mismatch), its files are
//    synced (sync_tree; a big file's writeback started as soon as it was written), and the
//    scratch directory is renamed to DIR/<hex>. A crash, power loss included, leaves at
//    worst a stray .tmp-* directory, never a named one with files whose data did not reach
//    the disk (which nothing would ever check again: the zero-byte files containerd's
//    unpack leaves after a power cut).
//  - Two processes (or threads: an UnpackedLayers keeps no state but its directory's name,
//    so one object may be used from several threads at once) unpacking the same layer both
//    succeed: the first rename wins and the other discards its copy and uses the winner's.
//
// Who removes entries (prune) is the store's business; remove() is for it.

#include <functional>
#include <string>

#include "layers/digest.h"
#include "layers/error.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"

namespace layers {

class UnpackedLayers {
 public:
  // Uses (and creates when missing) `dir`.
  static Result<UnpackedLayers> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string path_of(const Digest& diff_id) const;  // DIR/<hex>, whether or not it exists
  bool has(const Digest& diff_id) const;

  // The directory holding the layer `diff_id`, unpacking it first when it is not cached.
  // `open_layer` is called only then, and gives the layer blob (any compression) to read.
  // Errors: open_layer's own; unpack_layer's (InvalidInput for a hostile entry); Corrupt
  // when the uncompressed stream's sha256 is not `diff_id`; Io when the sync fails.
  Result<std::string> get_or_unpack(const Digest& diff_id,
                                    const std::function<Result<UniqueFd>()>& open_layer);

  // Names `dir` (a directory on this filesystem holding exactly the layer `diff_id` in
  // overlay form: a RUN's upper dir) as that layer, synced as get_or_unpack names what it
  // unpacked, unless the layer is there already. False, `dir` left where it was, when it
  // was not taken (already there, or the sync or the rename failed).
  bool adopt(const std::string& dir, const Digest& diff_id);

  // Removes DIR/<hex> (missing is fine).
  Result<void> remove(const Digest& diff_id);

 private:
  explicit UnpackedLayers(std::string dir) : dir_(std::move(dir)) {}
  // sync_tree(dir), then renames it to path_of(diff_id) and fsyncs DIR. Io (with the
  // rename's errno) on failure; `dir` is the caller's to discard.
  Result<void> name(const std::string& dir, const Digest& diff_id);
  std::string dir_;
};

}  // namespace layers
