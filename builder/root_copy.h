#pragma once
// The copy executor's root: where overlayfs cannot be mounted, RUN runs on a private,
// writable copy of the stage's root filesystem, and its layer is the diff of that copy
// against an index taken before the step (layers/tree_index.h).
//
// The copy is made from the layers, applied bottom first: from their unpacked dirs
// (runtime/layer_dirs.h) when the store has them, with overlay's rules (a 0:0 character device
// deletes, trusted.overlay.opaque=y empties the directory first). File data is cloned (FICLONE)
// where the filesystem can share extents (btrfs, xfs), else copied in the kernel (copy_file_range).
// Files are never hard-linked to the unpacked layers: a command writing into a file in place would
// write into the cached layer. Hard links within a layer stay hard links in the copy.
//
// One copy serves consecutive RUN steps of a stage: after a RUN it already is the new
// tree, and steps in between (COPY, WORKDIR) are applied as their layers, so a RUN costs
// the size of its change plus a walk for the index, not a new copy. The directory (under
// the build's scratch dir) is removed with its owner.

#include <optional>
#include <string>
#include <vector>

#include "runtime/layer_dirs.h"
#include "runtime/sandbox/temp_dir.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"
#include "layers/tree_index.h"

namespace builder {

// Applies the unpacked layer `layer_dir` (overlay format) onto the root filesystem at
// `root`, as an overlay mount of it above `root` would show the tree. Never follows
// symlinks in either tree. Sockets are skipped.
layers::Result<void> apply_unpacked_layer(const std::string& root, const std::string& layer_dir);

class RootCopy {
 public:
  // An empty copy in a fresh directory under `scratch_dir`.
  static layers::Result<RootCopy> create(const std::string& scratch_dir);

  // The root filesystem's directory (mode 0755, as overlay's merged root would be).
  const std::string& path() const { return root_; }

  // Makes the copy hold the tree of `image_layers` (bottom first, with their diff_ids):
  // when the copy holds a prefix of them, only the rest are applied; otherwise it is
  // emptied and built again. A layer already unpacked in the store is cloned from there;
  // any other is unpacked from its blob straight into the copy (Corrupt when it does not
  // hash to its diff_id), so the copy executor never needs the unpacked cache (which
  // cannot hold overlay whiteouts where the store itself is on an overlayfs). The index
  // is retaken when anything was applied.
  layers::Result<void> sync(const layers::Store& store,
                            const std::vector<layers::Descriptor>& image_layers,
                            const std::vector<layers::Digest>& diff_ids);

  // The index of the copy as it is now, and the layers it holds. Valid after a successful
  // sync.
  const layers::TreeIndex& index() const { return *index_; }
  const std::vector<layers::Digest>& diff_ids() const { return diff_ids_; }

  // A RUN is about to change the copy. Until record(), the copy holds no known tree (a
  // failed or interrupted RUN leaves it so, and the next sync builds it again), but
  // index() still describes the tree before.
  void begin_change() { is_valid_ = false; }
  // After a RUN that succeeded: the copy now holds `diff_ids`, and `after` indexes it.
  void record(std::vector<layers::Digest> diff_ids, layers::TreeIndex after);

 private:
  RootCopy(runtime::sandbox::TempDir dir, std::string root) : dir_(std::move(dir)), root_(std::move(root)) {}
  layers::Result<void> clear();

  runtime::sandbox::TempDir dir_;
  std::string root_;
  bool is_valid_ = true;  // the content matches diff_ids_
  std::vector<layers::Digest> diff_ids_;
  std::optional<layers::TreeIndex> index_;
};

}  // namespace builder
