#include "builder/outputs.h"

#include <unistd.h>

#include "layers/image_archive.h"
#include "runtime/layer_dirs.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

Result<void> write_layout_dir(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  auto out = layers::Store::open(dest);
  if (!out) return std::move(out).error();
  auto image = store.load_image(manifest);
  if (!image) return std::move(image).error();
  std::vector<layers::Digest> blobs = {manifest.digest, image->manifest.config.digest};
  for (const auto& layer : image->manifest.layers) blobs.push_back(layer.digest);
  for (const auto& blob : blobs) {
    auto data = store.blobs().open_read(blob);
    if (!data) return std::move(data).error();
    auto writer = out->blobs().begin_write();
    if (!writer) return std::move(writer).error();
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(data->get(), buf.data(), buf.size());
      if (n < 0) return Error::from_errno("reading blob " + blob.str());
      if (n == 0) break;
      if (auto r = writer->write(std::string_view(buf.data(), static_cast<size_t>(n))); !r) return r;
    }
    if (auto r = writer->commit(blob); !r) return std::move(r).error();
  }
  if (names.empty()) return out->add_untagged(manifest);
  for (const auto& name : names)
    if (auto r = out->set_tag(name, manifest); !r) return r;
  return {};
}

}  // namespace

Result<void> write_oci_output(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=oci needs dest=DIR or dest=FILE.tar");
  if (dest.ends_with(".tar"))
    return layers::write_image_archive_file(store, {{manifest, names}}, layers::ArchiveFormat::Oci, dest);
  return write_layout_dir(store, manifest, names, dest);
}

Result<void> write_docker_output(const layers::Store& store, const layers::Descriptor& manifest,
                                 const std::vector<std::string>& repo_tags, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=docker needs dest=FILE.tar");
  return layers::write_image_archive_file(store, {{manifest, repo_tags}}, layers::ArchiveFormat::Docker, dest);
}

Result<void> write_local_output(const layers::Store& store, const layers::Image& image, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=local needs dest=DIR");
  if (auto r = layers::make_dirs(dest); !r) return r;
  return runtime::materialize_rootfs(store, image.manifest.layers, dest);
}

}  // namespace builder
