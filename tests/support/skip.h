#pragma once
// Counted skips for Catch2 v2 (which has no SKIP of its own). A test case that cannot run
// its real part (a tool or a Docker engine missing, a mount not permitted) says so:
//
//   if (!have_program("skopeo")) HOIST_SKIP("skopeo missing (Debian package skopeo)");
//   HOIST_SKIP("overlay mount failed: " << std::strerror(errno));   // streams, as WARN does
//
// HOIST_SKIP prints `SKIPPED: <test case>: <why>` on stdout, appends one JSON line
// {"test": ..., "reason": ..., "executable": ...} to the file named by $HOIST_SKIP_LOG (when
// set; tests/meson.build sets it for `meson test`), and returns from the test case, which
// Catch then counts as passed. .ci/run reads the log, lists each skipped case with its
// reason, and counts it as skipped instead: "N passed, M failed, K skipped".
//
// Use it only in the body of a TEST_CASE (it returns void from the enclosing function),
// before anything that needs cleaning up by hand.

#include <sstream>
#include <string>

namespace hoist_test {

// Records the current test case as skipped for `why` (prints and logs as above) without
// returning: for a case that checks what it can and leaves out one part. The case is counted
// as skipped, not passed, so the part left out is never read as tested.
void record_skip(const std::string& why);

}  // namespace hoist_test

#define HOIST_SKIP(why)                           \
  do {                                            \
    std::ostringstream hoist_skip_why_;           \
    hoist_skip_why_ << why;                       \
    ::hoist_test::record_skip(hoist_skip_why_.str()); \
    return;                                       \
  } while (0)
