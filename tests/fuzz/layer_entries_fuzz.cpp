// libFuzzer target for layers::for_each_layer_entry (what hoist diff and the layer size
// read) and the layer index built on it (layers/layer_index.h). Input: a layer as it could
// come from a registry (plain, gzip or zstd tar), listed with every file's content hashed,
// then indexed, its index stored and parsed back (which must give the same text); and the
// input itself parsed as a stored index. Errors are expected; crashes and sanitizer
// reports are bugs. Nothing is written.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "layers/layer_entries.h"
#include "layers/layer_index.h"
#include "layers/unique_fd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  layers::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  if (!fd || ::write(fd.get(), data, size) != ssize_t(size) || ::lseek(fd.get(), 0, SEEK_SET) != 0)
    std::abort();
  size_t seen = 0;
  auto r = layers::for_each_layer_entry(fd.get(), true, [&](const layers::LayerEntry& e) -> layers::Result<void> {
    seen += e.path.size() + e.xattrs.size();
    return {};
  });
  (void)r;
  (void)seen;
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) std::abort();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto diff_id = layers::Digest::of(bytes);
  if (auto index = layers::LayerIndex::of_layer(fd.get(), diff_id)) {
    const std::string text = index->serialize();
    auto back = layers::LayerIndex::parse(text, diff_id);
    if (!back || back->serialize() != text) std::abort();
  }
  (void)layers::LayerIndex::parse(bytes, diff_id);
  return 0;
}
