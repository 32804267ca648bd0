#pragma once
// Image layers as directories: the lower dirs of a RUN's overlay, the view COPY and
// WORKDIR consult (where layers nothing unpacked are read through their index instead),
// and whole root filesystems for COPY --from and `--output type=local`.
//
// Unpacked layers live in Store::unpacked_path(diff_id), one directory per layer, in
// overlayfs's format: an OCI whiteout ".wh.x" becomes a 0:0 character device "x", an
// opaque marker ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory. Each
// layer is unpacked once, in one pass by layers::UnpackedLayers (layers/unpacked_cache.h:
// the tar applier in WhiteoutMode::Overlay, every entry resolved inside the layer's own
// directory), into a scratch directory beside the others that is renamed into place only
// when the whole layer applied and its diff_id matched; a crash leaves at worst a scratch
// dir (named ".tmp-*", which `hoist prune` removes). A hostile entry fails the call with
// InvalidInput naming it, and nothing outside the scratch directory is touched. Callers
// hold the store's gc_shared_lock while they use unpacked layers.

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/layer_index.h"
#include "layers/store.h"

namespace runtime {

// Makes sure the layer `layer` (whose uncompressed digest is `diff_id`) is unpacked, and
// returns its directory. Corrupt when the blob does not hash to `diff_id`.
layers::Result<std::string> ensure_unpacked(const layers::Store& store,
                                            const layers::Descriptor& layer,
                                            const layers::Digest& diff_id);

// Moves `dir` (an overlay upper dir or a COPY scratch dir holding exactly the layer
// `diff_id`, on the store's filesystem) into place as that layer's unpacked dir, unless
// one exists already, synced first as every named unpacked layer is
// (layers::UnpackedLayers::adopt). Best effort: on failure `dir` stays where it was.
void adopt_unpacked(const layers::Store& store, const std::string& dir,
                    const layers::Digest& diff_id);

// The merged view of a stack of layers, without mounting anything. Each layer is either
// unpacked (a directory) or indexed (layers/layer_index.h: its tar's headers, its blob
// read for file contents); both answer a lookup the same way.
class LayerView {
 public:
  struct Layer {
    std::string dir;                                  // unpacked here, or else
    std::shared_ptr<const layers::LayerIndex> index;  // indexed, and read from
    layers::Descriptor blob;                          // this blob of the store
  };

  LayerView() = default;
  // Unpacked layers, `dirs` top-most first.
  explicit LayerView(std::vector<std::string> dirs);
  // `layers` top-most first; `store` (holding the indexed layers' blobs) outlives the view.
  LayerView(const layers::Store& store, std::vector<Layer> layers) : store_(&store), layers_(std::move(layers)) {}

  // lstat of `rel` (relative, '/'-separated) as the merged tree shows it: the top-most
  // layer holding it decides; a whiteout or an opaque parent above hides lower layers.
  // Each layer directory is walked one component at a time with O_NOFOLLOW: a symlink
  // (or any non-directory) on the way is never followed, and hides lower layers' entries
  // beneath it as overlayfs' per-layer lookup does. nullopt when absent.
  std::optional<struct stat> lookup(const std::string& rel) const;
  // The host path of `rel` in the layer that holds it, or "" (absent, or hidden). Every
  // component between the layer directory and `rel` is a real directory, never a symlink
  // (checked as lookup walks), so opening the path follows nothing but its last
  // component: callers lstat it, or open it with O_NOFOLLOW, before reading. "" too
  // when the layer holding it is indexed, not unpacked.
  std::string host_path(const std::string& rel) const;
  // The content of the regular file `rel` as the merged tree shows it (a symlink is not
  // followed): from its unpacked layer, or read from its indexed layer's blob. nullopt
  // when absent or not a regular file; InvalidInput when larger than `max_bytes`.
  layers::Result<std::optional<std::string>> read_regular_file(const std::string& rel, size_t max_bytes) const;

  // `rel` with each symlink on the way (the last component too) replaced by its target,
  // as the merged tree shows it, resolved beneath the root as the layer applier resolves
  // names: an absolute target starts at the root, ".." stops there. The result names no
  // symlink but its missing tail. InvalidInput after 40 links (a loop).
  layers::Result<std::string> resolve(const std::string& rel) const;

  // The layers' directories, top-most first: for a view of unpacked layers only (view_of).
  std::vector<std::string> dirs() const;

 private:
  const layers::Store* store_ = nullptr;
  std::vector<Layer> layers_;
};

// Corrupt unless `image_layers` and `diff_ids` pair up one to one (an image's manifest
// layers and its config's diff_ids), as every function below needs.
layers::Result<void> check_layer_count(const std::vector<layers::Descriptor>& image_layers,
                                       const std::vector<layers::Digest>& diff_ids);

// Unpacks every layer of `image_layers` (bottom first, with their diff_ids) and returns
// the view, top-most first. The layers not unpacked yet are unpacked at once, up to one
// per core, each as ensure_unpacked does it; when some fail, the error is the lowest
// failing layer's ("layer 2 of 3: ..."), and a failed layer leaves no directory.
layers::Result<LayerView> view_of(const layers::Store& store,
                                  const std::vector<layers::Descriptor>& image_layers,
                                  const std::vector<layers::Digest>& diff_ids);

// The view COPY and WORKDIR consult: a layer already unpacked is read in its directory,
// any other through its index (layers::Store::layer_index, made from the blob once), so
// nothing is unpacked. Corrupt when a blob does not hash to its diff_id.
layers::Result<LayerView> index_view_of(const layers::Store& store,
                                        const std::vector<layers::Descriptor>& image_layers,
                                        const std::vector<layers::Digest>& diff_ids);

// Applies the layers, bottom first, into the existing empty directory `dest`: the whole
// root filesystem as a container would see it.
layers::Result<void> materialize_rootfs(const layers::Store& store,
                                        const std::vector<layers::Descriptor>& image_layers,
                                        const std::string& dest);

// The same, but only what reading the paths `sources` inside it takes (COPY --from and
// RUN --mount=from read a few paths of a stage or an image, as plan_copy resolves them):
// the subtree at each source's fixed part (its components before the first wildcard, "."
// pivot or ".."), as named and as resolved through the image's symlinks; every symlink
// of every layer, so that any path through them resolves as in the whole tree; the
// targets of hardlinks in those subtrees; the parents of all of these. Whiteouts and
// opaque markers apply where they touch what is kept. A source whose fixed part is the
// root takes everything. Returns how many entries of the layers were left out.
layers::Result<uint64_t> materialize_sources(const layers::Store& store,
                                             const std::vector<layers::Descriptor>& image_layers,
                                             const std::vector<layers::Digest>& diff_ids,
                                             const std::vector<std::string>& sources, const std::string& dest);

}  // namespace runtime
