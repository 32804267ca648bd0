#pragma once
// What the `hoist build` tests share: a fresh store with busybox:latest imported, a
// context directory to write files into, and helpers that build through the real binary
// and read back the image config and root filesystem.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

namespace build_test {

// The image config JSON of `image` in `hoist`'s store (from hoist inspect); REQUIREs that
// inspect succeeds.
inline nlohmann::json image_config(const hoist_test::HoistRunner& hoist, const std::string& image) {
  auto r = hoist.run({"inspect", image});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  if (j.is_array()) j = j.at(0);
  return j.at("ImageConfig");
}

class BuildFixture {
 public:
  // `launcher`: see HoistRunner::set_launcher.
  explicit BuildFixture(std::vector<std::string> launcher = {})
      : context_("hoist-ctx"), outputs_("hoist-out") {
    hoist_.set_launcher(std::move(launcher));
    auto imported = hoist_.import_busybox();
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
  }

  const hoist_test::HoistRunner& hoist() const { return hoist_; }
  std::string context() const { return context_.path(); }

  void write(const std::string& rel, const std::string& content, mode_t mode = 0644) const {
    const std::string path = context_.path() + "/" + rel;
    hoist_test::write_file(path, content);
    ::chmod(path.c_str(), mode);
  }

  // hoist build --progress plain -t TAG [extra...] CONTEXT, with `dockerfile` as CONTEXT/Dockerfile.
  hoist_test::RunResult build(const std::string& dockerfile, const std::string& tag = "t",
                              std::vector<std::string> extra = {},
                              const std::vector<std::string>& env = {}) const {
    write("Dockerfile", dockerfile);
    std::vector<std::string> args = {"build", "--progress", "plain", "-t", tag};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(context_.path());
    return hoist_.run(args, "", env);
  }

  // The image config JSON of `tag` (from hoist inspect).
  nlohmann::json config(const std::string& tag = "t") const { return image_config(hoist_, tag); }

  // Builds again with `-o type=local` and returns the root filesystem's directory.
  std::string rootfs(const std::string& dockerfile, std::vector<std::string> extra = {}) {
    std::string dest = outputs_.path() + "/rootfs" + std::to_string(++outputs_made_);
    extra.insert(extra.end(), {"-o", "type=local,dest=" + dest});
    auto r = build(dockerfile, "t", extra);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return dest;
  }

  std::string out_dir() const { return outputs_.path(); }

 private:
  hoist_test::HoistRunner hoist_;
  hoist_test::TempDir context_;
  hoist_test::TempDir outputs_;
  int outputs_made_ = 0;
};

// The launcher that runs hoist without openat2 when `without_openat2` is set (REQUIREs
// $HOIST_WITHOUT_OPENAT2), else none: for tests run both ways.
inline std::vector<std::string> openat2_launcher(bool without_openat2) {
  if (!without_openat2) return {};
  const std::string bin = hoist_test::without_openat2_bin();
  REQUIRE(!bin.empty());
  return {bin};
}

// How many lines of `text` contain `needle`.
inline int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.substr(start, end - start).find(needle) != std::string::npos) ++n;
    start = end + 1;
  }
  return n;
}

// The lines of the step whose title (in `--progress plain` output) contains `title`, each
// without its "#N " prefix, the title line first; empty when no such step is found. Found
// by title, not by number.
inline std::vector<std::string> step_lines(const std::string& progress, const std::string& title) {
  std::string number;
  std::vector<std::string> out;
  size_t start = 0;
  while (start < progress.size()) {
    size_t end = progress.find('\n', start);
    if (end == std::string::npos) end = progress.size();
    const std::string line = progress.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with('#')) continue;
    const std::string head = line.substr(0, line.find(' '));
    const std::string rest = line.substr(std::min(line.size(), head.size() + 1));
    if (number.empty() && rest.starts_with('[') && rest.find(title) != std::string::npos) number = head;
    if (!number.empty() && head == number) out.push_back(rest);
  }
  return out;
}

// How that step ended: "CACHED", "DONE", "ERROR", or "" when no such step is found.
inline std::string step_outcome(const std::string& progress, const std::string& title) {
  for (const auto& line : step_lines(progress, title))
    for (const char* state : {"CACHED", "DONE", "ERROR"})
      if (line.starts_with(state)) return state;
  return "";
}

}  // namespace build_test

// At the top of a test case whose builds need the sandbox's mount namespace (RUN --mount):
// skips it visibly where `--snapshotter auto` picks copy+chroot, which refuses them.
#define SKIP_WITHOUT_MOUNT_NAMESPACE(fixture)                                                  \
  do {                                                                                        \
    if ((fixture).hoist().chroot_executor())                                                  \
      HOIST_SKIP("needs the sandbox's mount namespace; RUN executor: "                         \
                 << (fixture).hoist().auto_executor());                                       \
  } while (0)
