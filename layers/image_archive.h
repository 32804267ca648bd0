#pragma once
// Image archives: the tarballs `docker save` writes and `docker load` reads.
//
//  - docker-archive: manifest.json ([{"Config", "RepoTags", "Layers"}]), repositories,
//    <config hex>.json, and <diff_id hex>/layer.tar per layer (uncompressed, as docker
//    writes them). `docker load` and `skopeo inspect docker-archive:FILE` accept it.
//  - OCI layout: oci-layout, index.json (ref.name and io.containerd.image.name
//    annotations), blobs/sha256/*.
//
// Writing is deterministic: entries in a fixed order, owned by 0:0, mtime 0, so the same
// images give the same bytes. Reading takes either kind (plain or compressed tar, detected),
// checks every digest and diff_id against what the archive's JSON claims (Corrupt if not),
// and streams layers into the BlobStore without holding them in memory. An archive is
// untrusted: JSON members have size limits and only members the JSON names are used.

#include <string>
#include <vector>

#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"

namespace layers {

enum class ArchiveFormat { Docker, Oci };

struct ArchiveImage {
  Descriptor descriptor;           // an image manifest (or index) in the store
  std::vector<std::string> names;  // docker: RepoTags ("busybox:latest"); OCI: full names
};

// Writes `images` from `store` to `fd` (not closed). Layers that are compressed in the
// store are decompressed through a temp file in the store's hoist-tmp/ (it has no name,
// so nothing is left behind).
Result<void> write_image_archive(const Store& store, const std::vector<ArchiveImage>& images,
                                 ArchiveFormat format, int fd);

// The same, into the file `path`: written to `path`.hoist-tmp beside it, fsync'd and
// renamed over `path`, so `path` is never a partial archive (the temp file is removed
// on failure). A `path` that is there and no regular file (followed through symlinks: a
// device such as /dev/null, a FIFO) is written into as it is, never replaced: a rename
// over /dev/null, as root, had made it a regular file. `hoist save -o` and `hoist build
// -o type=docker|oci,dest=FILE.tar` write through here.
Result<void> write_image_archive_file(const Store& store, const std::vector<ArchiveImage>& images,
                                      ArchiveFormat format, const std::string& path);

struct LoadedImage {
  Descriptor descriptor;           // the manifest now in the store (no annotations)
  std::vector<std::string> names;  // as the archive spells them; the caller normalizes
};

// Reads the archive at `path` into the store's blobs and returns its images. Tags are not
// touched: the caller tags (and should hold Store::gc_shared_lock() meanwhile).
Result<std::vector<LoadedImage>> read_image_archive(const Store& store, const std::string& path);

}  // namespace layers
