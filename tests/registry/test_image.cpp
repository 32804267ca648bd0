#include "tests/registry/test_image.h"

#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/support/registry_fixture.h"

namespace registry_test {

using hoist_test::read_file;
using hoist_test::run;
using hoist_test::TempDir;
using hoist_test::write_file;

TestImage make_image(const layers::Store& store, const std::string& seed,
                     const std::vector<size_t>& layer_sizes, const std::string& architecture, bool gzip) {
  TestImage image;
  layers::ImageConfig config;
  config.architecture = architecture;
  config.os = "linux";
  config.config.cmd = std::vector<std::string>{"/bin/sh"};
  config.created = "2024-01-01T00:00:00Z";
  TempDir work;
  for (size_t i = 0; i < layer_sizes.size(); ++i) {
    const std::string root = work.path() + "/root" + std::to_string(i);
    std::filesystem::create_directories(root + "/data");
    write_file(root + "/data/seed.txt", seed + " layer " + std::to_string(i) + "\n");
    run("head -c " + std::to_string(layer_sizes[i]) + " /dev/urandom > " + root + "/data/blob.bin");
    const std::string tar = work.path() + "/layer" + std::to_string(i) + ".tar";
    run("tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C " + root + " -cf " +
        tar + " .");
    config.diff_ids.push_back(layers::Digest::of(read_file(tar)));
    if (gzip) run("gzip -n -f " + tar);
    std::string gz = read_file(gzip ? tar + ".gz" : tar);
    auto digest = store.blobs().put_bytes(gz);
    layers::Descriptor d;
    d.media_type = std::string(gzip ? layers::media_type::kOciLayerGzip : layers::media_type::kOciLayer);
    d.digest = *digest;
    d.size = static_cast<int64_t>(gz.size());
    image.layers.push_back(d);
    config.history.push_back(
        {"2024-01-01T00:00:00Z", "test layer " + std::to_string(i), "", "", false});
  }
  image.manifest = *store.put_image(config, image.layers);
  auto manifest = layers::parse_manifest(
      *store.blobs().read_all(image.manifest.digest, layers::kMaxManifestBytes));
  image.config = manifest->config;
  return image;
}

layers::Descriptor make_index(const layers::Store& store, const std::vector<TestImage>& images) {
  layers::Index index;
  for (const auto& i : images) index.manifests.push_back(i.manifest);
  std::string json = index.to_json();
  layers::Descriptor d;
  d.media_type = index.media_type;
  d.digest = *store.blobs().put_bytes(json);
  d.size = static_cast<int64_t>(json.size());
  return d;
}

registry::Reference parse_ref(const std::string& text) {
  auto ref = registry::Reference::parse(text);
  REQUIRE(ref);
  return *ref;
}

}  // namespace registry_test
