// Image references from users and registries. A parsed reference is normalized: its str()
// parses back to the same reference.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "registry/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = registry::Reference::parse(text);
  if (!ref) return 0;
  auto again = registry::Reference::parse(ref->str());
  if (!again || !(*again == *ref)) std::abort();
  (void)ref->familiar();
  (void)ref->api_host();
  return 0;
}
