#pragma once
// A directory that is removed, with everything in it, when its owner goes away.

#include <string>
#include <string_view>

#include "layers/error.h"

namespace runtime::sandbox {

class TempDir {
 public:
  // Makes a fresh directory (mode 0700) named `prefix` + random suffix inside `parent`.
  static layers::Result<TempDir> create_in(const std::string& parent, std::string_view prefix);

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Removes the tree without following symlinks; errors are ignored (best effort).
  ~TempDir();

  const std::string& path() const { return path_; }
  // Keeps the directory; the caller owns it from now on.
  std::string release();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace runtime::sandbox
