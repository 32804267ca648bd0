#pragma once
// Where a built image goes besides the store: an OCI image layout (a directory, or a tar
// of one), a `docker load` archive, or the final root filesystem as a directory.

#include <string>
#include <vector>

#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"

namespace builder {

// Writes an OCI image layout holding `manifest` (and what it references) to `dest`: a
// directory (created; an existing layout there gains the image), or, when `dest` ends in
// ".tar", a tar archive of the layout, the same bytes `hoist save --format oci` writes
// (layers::write_image_archive_file). `names` become ref.name annotations.
layers::Result<void> write_oci_output(const layers::Store& store, const layers::Descriptor& manifest,
                                      const std::vector<std::string>& names, const std::string& dest);

// The directory case of write_oci_output, for any manifest (an image, or the build cache's
// artifact, builder/shared_cache.h): copies it and the blobs it lists, each verified.
layers::Result<void> write_layout_dir(const layers::Store& store, const layers::Descriptor& manifest,
                                      const std::vector<std::string>& names, const std::string& dest);

// Writes a tar that `docker load` reads, the same bytes `hoist save` writes for the image
// (layers::write_image_archive_file): manifest.json with RepoTags (familiar names,
// "busybox:latest"), the config and each layer uncompressed.
layers::Result<void> write_docker_output(const layers::Store& store, const layers::Descriptor& manifest,
                                         const std::vector<std::string>& repo_tags, const std::string& dest);

// Applies the image's layers into `dest` (created when missing; must be empty).
layers::Result<void> write_local_output(const layers::Store& store, const layers::Image& image,
                                        const std::string& dest);

}  // namespace builder
