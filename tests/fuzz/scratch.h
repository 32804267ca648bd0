#pragma once
// The scratch directory of a fuzz target that writes files: a fresh mkdtemp directory under
// $TMPDIR (default /tmp), made once per process. .ci/fuzz.sh points TMPDIR at a tmpfs where
// there is one: the store fsyncs every blob, and on a disk that caps a target at ~10 inputs
// a second. Aborts if it cannot be made (the target could test nothing).
#include <cstdlib>
#include <string>

#include <stdlib.h>

namespace hoist_fuzz {

inline std::string make_scratch_dir(const char* prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) std::abort();
  return pattern;
}

}  // namespace hoist_fuzz
