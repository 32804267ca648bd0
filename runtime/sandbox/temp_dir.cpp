#include "runtime/sandbox/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <utility>

namespace runtime::sandbox {

layers::Result<TempDir> TempDir::create_in(const std::string& parent, std::string_view prefix) {
  std::string tmpl = parent + "/" + std::string(prefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return layers::Error::from_errno("creating a temp dir in " + layers::quoted(parent));
  }
  return TempDir(std::move(tmpl));
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    TempDir old(std::move(*this));
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::release() { return std::exchange(path_, {}); }

}  // namespace runtime::sandbox
