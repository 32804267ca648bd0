#include "builder/outputs.h"

#include <unistd.h>

#include "layers/image_archive.h"
#include "runtime/layer_dirs.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<void> write_layout_dir(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  auto out = layers::Store::open(dest);
  if (!out) return std::move(out).error();
  auto text = store.blobs().read_all(manifest.digest, layers::kMaxManifestBytes);
  if (!text) return std::move(text).error();
  auto parsed = layers::parse_manifest(*text, "manifest " + manifest.digest.str());
  if (!parsed) return std::move(parsed).error();
  std::vector<layers::Digest> blobs = {manifest.digest, parsed->config.digest};
  for (const auto& layer : parsed->layers) blobs.push_back(layer.digest);
  for (const auto& blob : blobs)
    if (auto r = out->blobs().copy_from(store.blobs(), blob); !r) return r;
  if (names.empty()) return out->add_untagged(manifest);
  for (const auto& name : names)
    if (auto r = out->set_tag(name, manifest); !r) return r;
  return {};
}

Result<void> write_oci_output(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=oci needs dest=DIR or dest=FILE.tar");
  if (dest == "-") return layers::write_image_archive(store, {{manifest, names}}, layers::ArchiveFormat::Oci, STDOUT_FILENO);
  if (dest.ends_with(".tar"))
    return layers::write_image_archive_file(store, {{manifest, names}}, layers::ArchiveFormat::Oci, dest);
  return write_layout_dir(store, manifest, names, dest);
}

Result<void> write_docker_output(const layers::Store& store, const layers::Descriptor& manifest,
                                 const std::vector<std::string>& repo_tags, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=docker needs dest=FILE.tar");
  if (dest == "-") return layers::write_image_archive(store, {{manifest, repo_tags}}, layers::ArchiveFormat::Docker, STDOUT_FILENO);
  return layers::write_image_archive_file(store, {{manifest, repo_tags}}, layers::ArchiveFormat::Docker, dest);
}

Result<void> write_local_output(const layers::Store& store, const layers::Image& image, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=local needs dest=DIR");
  if (auto r = layers::make_dirs(dest); !r) return r;
  return runtime::materialize_rootfs(store, image.manifest.layers, dest);
}

}  // namespace builder
