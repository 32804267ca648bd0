// without_openat2 PROGRAM [ARGS...]: runs PROGRAM where openat2 is missing, as on a kernel
// before 5.6 or under a seccomp policy that does not know it: a seccomp filter makes every
// openat2 call fail with ENOSYS (tests/support/fail_syscall.h), then PROGRAM is executed (the
// filter is inherited by it and everything it starts). Tests run the hoist binary through it
// to show that resolution beneath a root (layers/resolve_in_root.h) takes its component-wise
// walk and gives the same results. Exit 126 when the filter cannot be installed, 127 when
// PROGRAM cannot be run.

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tests/support/fail_syscall.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: without_openat2 PROGRAM [ARGS...]\n");
    return 2;
  }
  if (!hoist_test::fail_syscall(SYS_openat2, ENOSYS)) {
    std::fprintf(stderr, "without_openat2: installing the seccomp filter: %s\n", std::strerror(errno));
    return 126;
  }
  ::execvp(argv[1], argv + 1);
  std::fprintf(stderr, "without_openat2: running %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
