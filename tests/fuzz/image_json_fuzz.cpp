// Image JSON from anywhere untrusted: the same bytes as a manifest, an index and an image
// config. Whatever parses must serialize and parse back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "layers/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto m = layers::parse_manifest(text)) {
    auto again = layers::parse_manifest(m->to_json());
    if (!again || again->to_json() != m->to_json()) std::abort();
  }
  if (auto i = layers::parse_index(text)) {
    auto again = layers::parse_index(i->to_json());
    if (!again || again->to_json() != i->to_json()) std::abort();
  }
  if (auto c = layers::parse_image_config(text)) {
    auto again = layers::parse_image_config(c->to_json());
    if (!again || again->to_json() != c->to_json()) std::abort();
  }
  return 0;
}
