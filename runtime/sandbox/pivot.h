#pragma once
// pivot_root into the container's root, leaving nothing of the host's tree reachable.

#include <string>

#include "layers/error.h"

namespace runtime::sandbox {

// `new_root` must be a mount point. Afterwards "/" is `new_root`, the old root is
// detached (not just hidden), and the working directory is "/".
layers::Result<void> pivot_into(const std::string& new_root);

}  // namespace runtime::sandbox
