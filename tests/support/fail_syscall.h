#pragma once
// Makes one system call fail with a chosen errno, for tests of how hoist meets a failure it
// cannot provoke otherwise (a kernel without openat2, a filesystem whose sync fails): a
// seccomp filter (SECCOMP_RET_ERRNO) on the calling thread, inherited by the threads and
// processes it starts afterwards and kept across execve. It cannot be removed: call it in
// a child process (fork, then _exit with what the child saw) or before exec.

#include <functional>
#include <optional>

namespace hoist_test {

// Installs the filter: system call `nr` (SYS_*) fails with `err` from now on. False, errno
// set, when it cannot be installed (seccomp not available).
bool fail_syscall(long nr, int err);

// Runs `body` in a forked child where `nr` fails with `err`, and returns what body returned
// (0..124; keep it small, it is the child's exit status), or std::nullopt when the filter
// could not be installed there (the caller skips, HOIST_SKIP). A child that dies otherwise
// returns 125 + its signal or status. body must not use Catch's assertions (they belong to
// the parent): it answers with its return value, the parent CHECKs it.
std::optional<int> in_child_failing(long nr, int err, const std::function<int()>& body);

}  // namespace hoist_test
