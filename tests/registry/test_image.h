#pragma once
// Small real images for the registry tests: tar layers (gzip'd or not) made with tar(1) from files
// written at test time, a config whose diff_ids match, and a manifest, all in a Store.

#include <cstddef>
#include <string>
#include <vector>

#include "layers/image.h"
#include "layers/store.h"
#include "registry/reference.h"

namespace registry_test {

struct TestImage {
  layers::Descriptor manifest;
  std::vector<layers::Descriptor> layers;
  layers::Descriptor config;
};

// An image with one layer per entry of `layer_sizes`: a file of that many random bytes
// (plus `seed` text, so images differ). Architecture as given, os linux. Layers are gzip'd,
// or plain tars as hoist stores the layers it builds when `gzip` is false.
TestImage make_image(const layers::Store& store, const std::string& seed,
                     const std::vector<size_t>& layer_sizes,
                     const std::string& architecture = "amd64", bool gzip = true);

// Stores an OCI index of `images` and returns its descriptor.
layers::Descriptor make_index(const layers::Store& store, const std::vector<TestImage>& images);

// A reference a test writes ("127.0.0.1:PORT/team/app:v1"), parsed; REQUIREs that it parses.
registry::Reference parse_ref(const std::string& text);

}  // namespace registry_test
