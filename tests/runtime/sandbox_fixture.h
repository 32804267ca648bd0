#pragma once
// The runtime tests' container: a busybox image in overlay layers and a way to run a
// command in it and capture what it printed. Shared by sandbox_test.cpp and
// hardening_test.cpp.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/sandbox/sandbox.h"
#include "layers/overlay_diff.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace sandbox_fixture {

namespace fs = std::filesystem;
using runtime::sandbox::SandboxSpec;
using layers::DiffEntry;

inline const char* const kApplets[] = {"sh",   "echo", "cat",   "ls",  "id",   "touch",    "rm",
                                "mkdir", "hostname", "mount", "grep", "pwd", "sleep", "true",
                                "false", "kill", "wc",    "head", "test", "env", "nc", "mknod", "unshare",
                                "chmod", "dd", "cp", "sed", "sort"};

using hoist_test::read_file;
using hoist_test::write_file;  // makes missing parent directories

// Mount lines that mention `needle`: what a run must not leave behind.
inline std::vector<std::string> mounts_mentioning(const std::string& needle) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos || line.find("hoist-run-") != std::string::npos)
      out.push_back(line);
  }
  return out;
}

// A tiny image: busybox and its applets, a passwd with a non-root user, an /etc/motd to
// delete and a /data directory to replace. No /proc, /dev or /etc/hosts: the sandbox has
// to supply its mount points without writing them into the layer.
struct Container {
  hoist_test::TempDir scratch{"hoist-sandbox-test"};
  std::string dir = scratch.path(), lower, upper, work;

  Container() {
    lower = dir + "/lower";
    upper = dir + "/upper";
    work = dir + "/work";
    fs::create_directories(lower + "/bin");
    fs::create_directories(upper);
    fs::create_directories(work);
    fs::copy_file("/bin/busybox", lower + "/bin/busybox");
    for (const char* applet : kApplets) fs::create_symlink("busybox", lower + "/bin/" + applet);
    write_file(lower + "/etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n");
    write_file(lower + "/etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
    write_file(lower + "/etc/motd", "welcome\n");
    write_file(lower + "/data/old", "old\n");
    fs::create_directories(lower + "/tmp");
  }

  SandboxSpec spec(const std::string& script) const {
    SandboxSpec spec;
    spec.lower_dirs = {lower};
    spec.upper_dir = upper;
    spec.work_dir = work;
    spec.scratch_dir = dir;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = {"PATH=/bin"};
    return spec;
  }

  std::vector<std::pair<std::string, DiffEntry::Kind>> diff() const {
    auto d = layers::diff_overlay_upper(upper);
    REQUIRE(d);
    std::vector<std::pair<std::string, DiffEntry::Kind>> out;
    for (const auto& e : d->entries) out.emplace_back(e.path, e.kind);
    return out;
  }
};

struct Ran {
  layers::Result<int> status;
  std::string out, err;
};

inline Ran run_captured(SandboxSpec spec) {
  std::string out, err;
  spec.on_output = [&](int stream, std::string_view bytes) {
    (stream == 1 ? out : err).append(bytes);
  };
  auto status = runtime::sandbox::run(spec);
  return Ran{std::move(status), out, err};
}

inline std::string describe(const Ran& ran) {
  return ran.status ? "exit " + std::to_string(*ran.status) + "; stderr: " + ran.err
                    : ran.status.error().describe();
}

// run_captured, REQUIRing that the sandbox ran the command (whatever its exit status);
// when it did not, the failure says why.
inline Ran run_ok(SandboxSpec spec) {
  auto ran = run_captured(std::move(spec));
  INFO(describe(ran));
  REQUIRE(ran.status);
  return ran;
}

// Why the namespace sandbox cannot run on this machine, probed once (probe_namespaces, as
// `--snapshotter auto` does), or nullopt when it can. Only the limits of the place count:
// "/" not a mount point (a plain chroot; hoist then picks copy+chroot) or no permission to
// make namespaces. Any other probe failure is left for the test to fail on.
inline const std::optional<std::string>& namespace_sandbox_unavailable() {
  static const std::optional<std::string> why = []() -> std::optional<std::string> {
    auto probed = runtime::sandbox::probe_namespaces("/tmp");
    if (probed) return std::nullopt;
    const layers::Error& e = probed.error();
    if (e.kind() == layers::ErrorKind::Unsupported || e.sys_errno() == EPERM) return e.describe();
    return std::nullopt;
  }();
  return why;
}

}  // namespace sandbox_fixture

// At the top of a test case that needs the namespace sandbox: skips it, visibly and with the
// probe's reason, where hoist itself would use copy+chroot instead.
#define REQUIRE_NAMESPACE_SANDBOX()                                                        \
  do {                                                                                     \
    if (const auto& why_ = ::sandbox_fixture::namespace_sandbox_unavailable())             \
      HOIST_SKIP("the namespace sandbox cannot run here (hoist picks copy+chroot): " << *why_); \
  } while (0)
