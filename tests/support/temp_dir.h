#pragma once
// The tests' one temp-dir type: a fresh directory under $TMPDIR (or /tmp), removed with
// everything in it on destruction.
//
//   hoist_test::TempDir dir("hoist-store-test");   // /tmp/hoist-store-test-XXXXXX
//   write_file(dir / "a.txt", "x");                 // dir.path() + "/a.txt"
//
// When the directory cannot be made (a full or read-only /tmp) no test can run: the
// constructor prints why and aborts, which fails the test executable loudly rather than
// letting a test write beneath an empty path. Removal ignores errors; anything mounted
// beneath it must be unmounted first (its owner's job).

#include <string>
#include <string_view>

namespace hoist_test {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "hoist-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + rel
  std::string operator/(std::string_view rel) const;

 private:
  std::string path_;
};

}  // namespace hoist_test
