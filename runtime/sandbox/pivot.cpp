#include "runtime/sandbox/pivot.h"

#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace runtime::sandbox {

using layers::Error;
using layers::Result;

Result<void> pivot_into(const std::string& new_root) {
  if (::chdir(new_root.c_str()) != 0) return Error::from_errno("chdir " + layers::quoted(new_root));
  // pivot_root(".", ".") stacks the old root on top of the new one, which needs no
  // directory for the old root inside the image; detaching "." then drops it.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return Error::from_errno("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) return Error::from_errno("detaching the old root");
  if (::chdir("/") != 0) return Error::from_errno("chdir / after pivot_root");
  return {};
}

}  // namespace runtime::sandbox
