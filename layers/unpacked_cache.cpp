#include "layers/unpacked_cache.h"

#include "layers/blob_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace layers {

namespace fs = std::filesystem;

Result<UnpackedLayers> UnpackedLayers::open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::from_errno(ec.value(), "creating " + layers::quoted(dir));
  return UnpackedLayers(dir);
}

std::string UnpackedLayers::path_of(const Digest& diff_id) const {
  return dir_ + "/" + std::string(diff_id.hex());
}

bool UnpackedLayers::has(const Digest& diff_id) const {
  struct stat st;
  return ::lstat(path_of(diff_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> UnpackedLayers::get_or_unpack(
    const Digest& diff_id, const std::function<Result<UniqueFd>()>& open_layer) {
  const std::string final_path = path_of(diff_id);
  if (has(diff_id)) return final_path;

  auto fd = open_layer();
  if (!fd) return std::move(fd).error().context("unpacking layer " + diff_id.str());

  std::string pattern = dir_ + "/.tmp-" + diff_id.short_id() + "-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    return Error::from_errno("creating a scratch directory in " + layers::quoted(dir_));
  const std::string scratch = pattern;
  auto discard = [&] {
    std::error_code ec;
    fs::remove_all(scratch, ec);
  };
  // mkdtemp made it 0700; a lowerdir is the image's root directory.
  ::chmod(scratch.c_str(), 0755);

  auto got = unpack_layer(scratch, fd->get(),
                          {.whiteouts = WhiteoutMode::Overlay, .start_writeback = true});
  if (!got) {
    discard();
    return std::move(got).error().context("unpacking layer " + diff_id.str());
  }
  if (*got != diff_id) {
    discard();
    return Error(ErrorKind::Corrupt, "layer " + diff_id.str() + " unpacked to content " +
                                         got->str() + ", not its diff_id");
  }
  auto named = name(scratch, diff_id);
  if (!named) {
    discard();
    // Another process got there first; its copy is as good as ours.
    const int err = named.error().sys_errno();
    if ((err == EEXIST || err == ENOTEMPTY) && has(diff_id)) return final_path;
    return std::move(named).error().context("unpacking layer " + diff_id.str());
  }
  return final_path;
}

bool UnpackedLayers::adopt(const std::string& dir, const Digest& diff_id) {
  return !has(diff_id) && name(dir, diff_id);
}

Result<void> UnpackedLayers::name(const std::string& dir, const Digest& diff_id) {
  // Its files' data on disk before its name (the top of unpacked_cache.h).
  if (auto synced = sync_tree(dir); !synced) return synced;
  const std::string final_path = path_of(diff_id);
  if (::rename(dir.c_str(), final_path.c_str()) != 0)
    return Error::from_errno("naming " + layers::quoted(final_path));
  (void)fsync_dir(dir_);  // the name itself; lost, the layer is unpacked again
  return {};
}

Result<void> UnpackedLayers::remove(const Digest& diff_id) {
  std::error_code ec;
  fs::remove_all(path_of(diff_id), ec);
  if (ec) return Error::from_errno(ec.value(), "removing " + layers::quoted(path_of(diff_id)));
  return {};
}

}  // namespace layers
