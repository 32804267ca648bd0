#pragma once
// A directory outside any root a test unpacks into, planted with files, a subdirectory, a
// symlink, set modes and xattrs (user.* and trusted.*), then compared with what it was:
// entries, types, contents, link targets, modes, owners, mtimes, ctimes and every xattr,
// the directory itself included (so a trusted.overlay.opaque set on it is seen).
//
//   auto canary = hoist_test::Canary::plant(dir.path() + "/canary");
//   ... something hostile ...
//   CHECK(canary.changes() == std::vector<std::string>{});

#include <map>
#include <string>
#include <vector>

namespace hoist_test {

class Canary {
 public:
  // Creates `dir` (its parent must exist) and its contents. Throws std::runtime_error when
  // it cannot (a test bug, not a finding).
  static Canary plant(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // One line per difference from the planted state ("added x", "changed x: ..."); empty
  // when untouched.
  std::vector<std::string> changes() const;

 private:
  explicit Canary(std::string dir) : dir_(std::move(dir)) {}
  static std::map<std::string, std::string> snapshot(const std::string& dir);
  std::string dir_;
  std::map<std::string, std::string> planted_;
};

}  // namespace hoist_test
