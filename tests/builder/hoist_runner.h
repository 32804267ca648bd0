#pragma once
// Running the real hoist binary from tests. Everything here is synchronous and simple:
//
//   hoist_test::HoistRunner hoist;                    // a fresh, empty store in /tmp
//   REQUIRE(hoist.import_busybox().exit_code == 0);    // busybox:latest, offline
//   auto r = hoist.run({"images"});
//   CHECK(r.exit_code == 0);
//   CHECK_THAT(r.out, Catch::Contains("busybox"));
//
// The binary is $HOIST_BIN (meson sets it for every test), run with HOIST_ROOT set to the
// runner's store. Output is captured through temp files, so any amount is fine.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tests/support/test_env.h"

namespace hoist_test {

struct RunResult {
  int exit_code = -1;  // the exit status; 128 + N when killed by signal N
  std::string out;     // stdout
  std::string err;     // stderr
};

// TempDir: tests/support/temp_dir.h. hoist_bin(), source_root(), without_openat2_bin():
// tests/support/test_env.h.

// Runs argv[0] (searched in PATH) with `argv`, plus `env` ("K=V") on top of this process's
// environment, feeding `stdin_text`. Never throws; a program that cannot start gives 127.
RunResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                      const std::string& stdin_text = "");

// Starts argv[0] (searched in PATH) with stdin read from `in_path`, stdout and stderr written
// to `out_path` and `err_path`, `env` ("K=V") on top of this environment, in a process
// group of its own when `own_group` (so a test can kill what it started, children too).
// Returns the pid (the child exits 127 when it cannot start), or -1 when fork fails.
pid_t spawn_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& in_path, const std::string& out_path,
                    const std::string& err_path, bool own_group);

// A tarball made by tests/fixtures/make_busybox_rootfs.sh, built once per test process.
const std::string& busybox_rootfs_tar();

class HoistRunner {
 public:
  // An empty store in a temp dir removed with the runner; or `root` when given (kept).
  HoistRunner();
  explicit HoistRunner(std::string root);

  const std::string& root() const { return root_; }
  // Runs hoist as LAUNCHER... hoist ARGS... from now on, e.g. {without_openat2_bin()}.
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }
  // hoist ARGS... with HOIST_ROOT=root() (and `env` on top).
  RunResult run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                const std::vector<std::string>& env = {}) const;
  // Imports the busybox rootfs as `name`, with the PATH and CMD ["sh"] of the real
  // busybox image. stdout is the image id. `env` as for run() (SOURCE_DATE_EPOCH makes
  // two stores' imports the same image).
  RunResult import_busybox(const std::string& name = "busybox:latest", const std::vector<std::string>& env = {}) const;
  // The RUN executor `--snapshotter auto` picks on this machine: the rest of a build's
  // "RUN executor: " line ("overlay", "copy (overlayfs unavailable: REASON)", "copy+chroot
  // (no mount namespace: REASON)"). Probed once per test process with a build of its own
  // (a Dockerfile on stdin, FROM `image`, which must be in this store). Tests of what only
  // one executor does follow it: they skip visibly, or expect what the other one does.
  std::string auto_executor(const std::string& image = "busybox:latest") const;
  // auto_executor() is copy+chroot: no mount namespace, so no binds, RUN --mount, UTS or
  // network namespace (README, "copy+chroot").
  bool chroot_executor(const std::string& image = "busybox:latest") const {
    return auto_executor(image).starts_with("copy+chroot");
  }

 private:
  std::unique_ptr<TempDir> dir_;
  std::string root_;
  std::vector<std::string> launcher_;
};

}  // namespace hoist_test
