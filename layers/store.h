#pragma once
// The local image store: an OCI image layout that skopeo and umoci read as it is.
//
//   ROOT/oci-layout          {"imageLayoutVersion": "1.0.0"}
//   ROOT/index.json          one descriptor per tag; the tag is the annotation
//                            org.opencontainers.image.ref.name = the full normalized
//                            reference ("docker.io/library/busybox:latest"), so
//                            `skopeo inspect oci:ROOT:docker.io/library/busybox:latest` and
//                            `umoci unpack --image ROOT:docker.io/library/busybox:latest`
//                            find it. Descriptors point at image manifests (or at an image
//                            index for a multi-platform pull) and carry their platform.
//   ROOT/blobs/sha256/<hex>  content (see blob_store.h)
//   ROOT/hoist-tmp/          blob temp files (never under blobs/)
//   ROOT/hoist-locks/        index.lock (serializes index.json writers), gc.lock
//   ROOT/hoist-unpacked/<diff_id hex>/   unpacked layers (filled by the builder); 0700
//   ROOT/hoist-containers/   containers (runtime/container.h); 0700, as is ROOT
//   ROOT/hoist-cache/        the build cache (filled by the builder)
//   ROOT/hoist-compressed/   the compressed blob of each uncompressed layer that left the
//                            machine, by diff_id (layers/compressed_layers.h)
//   ROOT/hoist-sizes/<hex>   a layer blob's unpacked content size (layers/layer_size.h),
//                            measured once, for `hoist images` and `hoist history`
//   ROOT/hoist-index/<hex>   a layer blob's entries (layers/layer_index.h), read once, for
//                            COPY and WORKDIR on a base nothing unpacked
//
// index.json changes only under an exclusive flock on hoist-locks/index.lock, by reading it
// afresh, changing it, and replacing it with write-temp-fsync-rename; two hoist processes
// never lose each other's tags. Readers take no lock: they always see a whole file.
//
// Garbage collection (gc()) deletes blobs and unpacked layers nothing in index.json reaches
// (a compressed blob is reached through its layer's diff_id), and temp files and
// directories whose writer is gone.
// It holds gc.lock exclusively; anyone who writes blobs and tags them later (import, load,
// pull, build) or uses unpacked layers (run) holds gc_shared_lock() for that whole time,
// so gc never removes what they are about to reference.
//
// Names given to this class are already normalized (registry::Reference::str()); the store
// compares them as strings.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/blob_store.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/layer_index.h"
#include "layers/unique_fd.h"

namespace layers {

// An flock held until destruction.
class FileLock {
 public:
  // Creates `path` when missing. Blocks until the lock is granted.
  static Result<FileLock> acquire(const std::string& path, bool exclusive);
  // As acquire, but NotFound-free: returns std::nullopt at once when someone else holds it.
  static Result<std::optional<FileLock>> try_acquire(const std::string& path, bool exclusive);
  // Whether some process holds an flock on `path` now; a missing file is held by nobody
  // (never creates it, never follows a symlink there).
  static bool is_held(const std::string& path);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct ImageEntry {
  std::string name;  // the ref.name annotation (full normalized reference), or ""
  Descriptor descriptor;
};

// One image, as read from the store: an image manifest and its config.
struct Image {
  Descriptor descriptor;  // of the manifest
  Manifest manifest;
  ImageConfig config;

  const Digest& id() const { return manifest.config.digest; }  // as `docker images` shows
  // Sum of the layer sizes (compressed, as stored) plus config and manifest.
  int64_t size() const;
};

struct GcReport {
  size_t blobs_removed = 0;
  uint64_t bytes_removed = 0;
  size_t unpacked_removed = 0;
  size_t temp_files_removed = 0;  // files and directories, hoist's and the sweep hook's
};

struct FsckReport {
  size_t blobs_checked = 0;
  std::vector<std::string> problems;  // one sentence each; empty means healthy
};

class Store {
 public:
  // Opens the layout at `root`, creating it (and the hoist-* folders) when missing. The
  // root, hoist-unpacked/ and hoist-containers/ are made 0700, and an existing store's
  // lose their group and other access, so no other user reaches an image's set-uid files
  // or device nodes; a root with the sticky bit (/tmp itself) is refused, InvalidInput.
  static Result<Store> open(const std::string& root);
  // /var/lib/hoist for root; else $XDG_DATA_HOME/hoist, else ~/.local/share/hoist.
  // ($HOIST_ROOT and --root are the CLI's business.)
  static std::string default_root();

  const std::string& root() const { return root_; }
  const BlobStore& blobs() const { return blobs_; }
  std::string unpacked_dir() const { return root_ + "/hoist-unpacked"; }
  std::string unpacked_path(const Digest& diff_id) const {
    return unpacked_dir() + "/" + std::string(diff_id.hex());
  }
  std::string cache_dir() const { return root_ + "/hoist-cache"; }
  std::string containers_dir() const { return root_ + "/hoist-containers"; }
  std::string locks_dir() const { return root_ + "/hoist-locks"; }

  // The current index.json.
  Result<Index> read_index() const;
  // Every entry, in index.json order; `name` is "" for an untagged image (a load of an
  // archive whose image had no name).
  Result<std::vector<ImageEntry>> list() const;
  // Exact name match; NotFound "no such image: NAME".
  Result<Descriptor> find_tag(std::string_view name) const;
  // An image id or manifest digest, whole or a prefix of at least 4 hex characters, with or
  // without "sha256:". NotFound when nothing matches; InvalidInput when the prefix names
  // more than one image.
  Result<Descriptor> find_id(std::string_view id) const;
  // find_tag, then find_id when the text could be an id.
  Result<Descriptor> resolve(std::string_view name_or_id) const;
  // All tags whose image has this manifest digest.
  Result<std::vector<std::string>> names_of(const Digest& manifest_digest) const;

  // Docker's RepoDigests: the "REPO@DIGEST" names a registry serves this image under, as
  // a push or a pull learnt them; kept on the image's index entries (kRepoDigests), so they
  // go when the image goes. An image never pushed or pulled has none.
  Result<std::vector<std::string>> repo_digests_of(const Digest& manifest_digest) const;
  // Adds `repo_digest` unless the image has it; does nothing when no entry points at
  // `manifest_digest`.
  Result<void> add_repo_digest(const Digest& manifest_digest, std::string_view repo_digest);

  // Points `name` at `descriptor` (replacing what it pointed at). Sets the ref.name
  // annotation on the stored descriptor; keeps the image's repo digests.
  Result<void> set_tag(std::string_view name, const Descriptor& descriptor);
  // NotFound when the tag does not exist. Returns what it pointed at.
  Result<Descriptor> remove_tag(std::string_view name);
  // Adds an entry without a name for `descriptor`, unless one already points at it.
  Result<void> add_untagged(const Descriptor& descriptor);
  // Removes every entry (tagged or not) pointing at `manifest_digest`; returns the names
  // removed. NotFound when there was none.
  Result<std::vector<std::string>> remove_image(const Digest& manifest_digest);
  // Runs `change` on a fresh copy of index.json under the index lock and writes the result.
  Result<void> update_index(const std::function<Result<void>(Index&)>& change);

  // Loads manifest + config. For an image index, picks the manifest for `platform`
  // (default: the host), NotFound if it has none.
  Result<Image> load_image(const Descriptor& descriptor,
                           const std::optional<Platform>& platform = std::nullopt) const;
  // Writes `config` and a manifest listing `layers` (already in the store), returns the
  // manifest's descriptor with its platform. Flavor picks OCI or Docker media types.
  Result<Descriptor> put_image(const ImageConfig& config, const std::vector<Descriptor>& layers,
                               Flavor flavor = Flavor::Oci) const;

  // A layer's size as docker shows it (its unpacked content, layers/layer_size.h),
  // measured from the blob the first time and remembered in hoist-sizes/. Falls back to
  // the compressed size when the blob cannot be read (missing, damaged).
  int64_t layer_content_size(const Descriptor& layer) const;
  // The image's size as `docker images` shows it: the sum of its layers' content sizes.
  int64_t content_size(const Image& image) const;
  // The index of the entries of `layer` (whose uncompressed digest is `diff_id`): read
  // from hoist-index/, or made from the blob (Corrupt when it does not hash to `diff_id`)
  // and kept there with an atomic write. A stored index that does not parse or check out
  // is made again, never used.
  Result<LayerIndex> layer_index(const Descriptor& layer, const Digest& diff_id) const;

  Result<FileLock> gc_shared_lock() const;
  // Removes unreferenced blobs, unpacked layers (and dead .tmp-* unpack scratch dirs),
  // dead temp files and dirs in hoist-tmp/, and index.json temp files a crash left. With
  // `wait` false and someone holding the shared gc lock, does nothing and returns
  // std::nullopt. `sweep_more`, when set, runs while gc holds its locks, for leftovers the
  // store does not know (the builder's scratch, container temp dirs); it returns how many
  // it removed, added to temp_files_removed. A tree holding a mount point is never removed.
  Result<std::optional<GcReport>> gc(bool wait = true,
                                     const std::function<Result<size_t>()>& sweep_more = {}) const;
  // Checks: every blob's name is its digest, nothing else is in blobs/sha256, index.json
  // and every manifest/config it reaches parse, every referenced blob exists with the
  // size its descriptor says.
  Result<FsckReport> fsck() const;

 private:
  Store(std::string root, BlobStore blobs) : root_(std::move(root)), blobs_(std::move(blobs)) {}
  std::string root_;
  BlobStore blobs_;
};

}  // namespace layers
