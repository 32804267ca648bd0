#pragma once
// What meson's test environment (tests/meson.build) tells a test: where the built programs
// are and where the sources are. The tests' one way to read them.
//
//   run(hoist_test::hoist_bin() + " images");
//   const std::string corpus = hoist_test::source_root() + "/tests/data/dockerfiles";

#include <string>

namespace hoist_test {

// $HOIST_BIN (the built hoist), or "hoist" (searched in PATH) when it is unset or empty.
std::string hoist_bin();
// $HOIST_WITHOUT_OPENAT2: tests/support/without_openat2, which runs a program where openat2
// fails with ENOSYS, as on kernels before 5.6. "" when it is unset.
std::string without_openat2_bin();
// $HOIST_SOURCE_ROOT (the repository), or "../.." (a test's working dir is its folder).
std::string source_root();

}  // namespace hoist_test
