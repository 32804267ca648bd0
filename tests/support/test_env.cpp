#include "tests/support/test_env.h"

#include <cstdlib>

namespace hoist_test {

std::string hoist_bin() {
  const char* bin = std::getenv("HOIST_BIN");
  return bin && *bin ? bin : "hoist";
}

std::string without_openat2_bin() {
  const char* bin = std::getenv("HOIST_WITHOUT_OPENAT2");
  return bin ? bin : "";
}

std::string source_root() {
  const char* root = std::getenv("HOIST_SOURCE_ROOT");
  return root && *root ? root : "../..";
}

}  // namespace hoist_test
