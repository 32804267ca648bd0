#include "runtime/layer_dirs.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

#include "layers/tar_apply.h"
#include "layers/unique_fd.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// The whiteout entries of a layer, as (directory, name) pairs: name is "" for an opaque
// marker. Reads headers only.
Result<std::vector<std::pair<std::string, std::string>>> list_whiteouts(int fd) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK)
    return Error(ErrorKind::Corrupt, std::string("reading layer: ") + archive_error_string(a.get()));
  std::vector<std::pair<std::string, std::string>> out;
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return Error(ErrorKind::Corrupt, std::string("reading layer: ") + archive_error_string(a.get()));
    std::string path = archive_entry_pathname(entry);
    while (path.starts_with("./")) path.erase(0, 2);
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base == ".wh..wh..opq") out.emplace_back(dir, "");
    else if (base.starts_with(".wh..wh.")) continue;
    else if (base.starts_with(".wh.")) out.emplace_back(dir, base.substr(4));
  }
  return out;
}

// Writes the overlay form of each whiteout beneath `root`. The tar applier has already
// refused names leaving the root; the parent is still opened beneath it.
Result<void> write_overlay_whiteouts(const std::string& root,
                                     const std::vector<std::pair<std::string, std::string>>& whiteouts) {
  for (const auto& [dir, name] : whiteouts) {
    if (dir.find("..") != std::string::npos || name.find('/') != std::string::npos || name == "." ||
        name == "..")
      return Error(ErrorKind::InvalidInput, "whiteout " + layers::quoted(dir + "/" + name) + " is not a clean path");
    std::string parent = dir.empty() ? root : root + "/" + dir;
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return Error(ErrorKind::Io, "creating " + layers::quoted(parent) + ": " + ec.message());
    layers::UniqueFd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Error::from_errno("opening " + layers::quoted(parent));
    if (name.empty()) {
      if (::fsetxattr(fd.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return Error::from_errno("marking " + layers::quoted(parent) + " opaque");
    } else if (::mknodat(fd.get(), name.c_str(), S_IFCHR | 0, ::makedev(0, 0)) != 0 && errno != EEXIST) {
      return Error::from_errno("writing whiteout " + layers::quoted(parent + "/" + name));
    }
  }
  return {};
}

std::string random_suffix() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace

Result<std::string> ensure_unpacked(const layers::Store& store, const layers::Descriptor& layer,
                                    const layers::Digest& diff_id) {
  std::string final_dir = store.unpacked_path(diff_id);
  struct stat st;
  if (::lstat(final_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return final_dir;
  if (auto r = layers::make_dirs(store.unpacked_dir()); !r) return std::move(r).error();
  std::string scratch = store.unpacked_dir() + "/.tmp-" + random_suffix();
  if (::mkdir(scratch.c_str(), 0755) != 0) return Error::from_errno("creating " + layers::quoted(scratch));
  auto fail = [&](Error e) {
    remove_tree(scratch);
    return std::move(e).context("unpacking layer " + layer.digest.str());
  };
  auto fd = store.blobs().open_read(layer.digest);
  if (!fd) return fail(std::move(fd).error());
  auto unpacked = layers::unpack_layer(scratch, fd->get());
  if (!unpacked) return fail(std::move(unpacked).error());
  if (*unpacked != diff_id)
    return fail(Error(ErrorKind::Corrupt, "its content is " + unpacked->str() + ", not the diff_id " + diff_id.str()));
  if (::lseek(fd->get(), 0, SEEK_SET) != 0) return fail(Error::from_errno("rewinding the layer"));
  auto whiteouts = list_whiteouts(fd->get());
  if (!whiteouts) return fail(std::move(whiteouts).error());
  if (auto r = write_overlay_whiteouts(scratch, *whiteouts); !r) return fail(std::move(r).error());
  if (::rename(scratch.c_str(), final_dir.c_str()) != 0) {
    // Someone else unpacked it meanwhile: theirs is as good as ours.
    if (errno != EEXIST && errno != ENOTEMPTY) return fail(Error::from_errno("renaming into " + layers::quoted(final_dir)));
    remove_tree(scratch);
  }
  return final_dir;
}

void adopt_unpacked(const layers::Store& store, const std::string& dir, const layers::Digest& diff_id) {
  if (!layers::make_dirs(store.unpacked_dir())) return;
  std::string final_dir = store.unpacked_path(diff_id);
  struct stat st;
  if (::lstat(final_dir.c_str(), &st) == 0) return;
  ::rename(dir.c_str(), final_dir.c_str());
}

std::optional<struct stat> LayerView::lookup(const std::string& rel) const {
  std::string clean = rel;
  while (clean.starts_with('/')) clean.erase(0, 1);
  while (clean.ends_with('/')) clean.pop_back();
  for (const auto& dir : dirs_) {
    struct stat st;
    if (clean.empty()) {
      if (::lstat(dir.c_str(), &st) == 0) return st;
      continue;
    }
    std::string path = dir + "/" + clean;
    if (::lstat(path.c_str(), &st) == 0) {
      if (S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(0, 0)) return std::nullopt;
      return st;
    }
    // A whiteout or an opaque directory on the way hides what lower layers have here.
    for (size_t slash = clean.find('/'); slash != std::string::npos; slash = clean.find('/', slash + 1)) {
      std::string parent = dir + "/" + clean.substr(0, slash);
      if (::lstat(parent.c_str(), &st) != 0) break;
      if (S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(0, 0)) return std::nullopt;
      if (!S_ISDIR(st.st_mode)) return std::nullopt;
    }
    size_t slash = clean.rfind('/');
    std::string parent = slash == std::string::npos ? dir : dir + "/" + clean.substr(0, slash);
    char value[2];
    if (::lgetxattr(parent.c_str(), "trusted.overlay.opaque", value, sizeof value) == 1 && value[0] == 'y')
      return std::nullopt;
  }
  return std::nullopt;
}

std::string LayerView::host_path(const std::string& rel) const {
  std::string clean = rel;
  while (clean.starts_with('/')) clean.erase(0, 1);
  if (!lookup(clean)) return "";
  for (const auto& dir : dirs_) {
    struct stat st;
    std::string path = dir + "/" + clean;
    if (::lstat(path.c_str(), &st) == 0) return path;
  }
  return "";
}

Result<LayerView> view_of(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                          const std::vector<layers::Digest>& diff_ids) {
  if (image_layers.size() != diff_ids.size())
    return Error(ErrorKind::Corrupt, "the image lists " + std::to_string(image_layers.size()) +
                                         " layers but " + std::to_string(diff_ids.size()) + " diff_ids");
  std::vector<std::string> dirs;
  for (size_t i = image_layers.size(); i-- > 0;) {
    auto dir = ensure_unpacked(store, image_layers[i], diff_ids[i]);
    if (!dir) return std::move(dir).error();
    dirs.push_back(*dir);
  }
  return LayerView(std::move(dirs));
}

Result<void> materialize_rootfs(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                                const std::string& dest) {
  for (const auto& layer : image_layers) {
    auto fd = store.blobs().open_read(layer.digest);
    if (!fd) return std::move(fd).error().context("reading layer " + layer.digest.str());
    auto r = layers::unpack_layer(dest, fd->get());
    if (!r) return std::move(r).error();
  }
  return {};
}

}  // namespace runtime
