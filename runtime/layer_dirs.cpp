#include "runtime/layer_dirs.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <algorithm>
#include <climits>
#include <set>
#include <thread>

#include "layers/overlay_xattr.h"
#include "layers/parallel_for.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "layers/unpacked_cache.h"
#include "layers/rel_path.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

std::string clean_rel(const std::string& rel) {
  std::string clean;
  size_t start = 0;
  while (start < rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    std::string_view part(rel.data() + start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (!clean.empty()) clean += '/';
    clean += part;
  }
  return clean;
}

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(0, 0); }

// What one layer directory says about `rel`.
enum class Presence { Absent, Present, Hidden };

// Looks `rel` up in the layer directory `dir` alone, opening each parent with
// O_NOFOLLOW relative to the previous one, so a symlink in the layer (to the host's "/",
// to "..") is never followed: a parent that is not a real directory ends the lookup.
// `st` gets the lstat of `rel` when Present.
Presence look_in_layer(const std::string& dir, const std::string& rel, struct stat& st) {
  layers::UniqueFd cur(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return Presence::Absent;
  if (rel.empty()) return ::fstat(cur.get(), &st) == 0 ? Presence::Present : Presence::Absent;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    std::string part = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (::fstatat(cur.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      // Missing here; an opaque directory still hides the lower layers' entry.
      char value[2];
      std::string via = "/proc/self/fd/" + std::to_string(cur.get());
      if (::getxattr(via.c_str(), layers::overlay_xattr("opaque").c_str(), value, sizeof value) == 1 && value[0] == 'y')
        return Presence::Hidden;
      return Presence::Absent;
    }
    if (is_whiteout(st)) return Presence::Hidden;
    if (slash == std::string::npos) return Presence::Present;
    // A non-directory on the way (a file, or a symlink overlayfs would not follow in
    // this layer alone) hides whatever lower layers have beneath that name.
    if (!S_ISDIR(st.st_mode)) return Presence::Hidden;
    layers::UniqueFd next(::openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return Presence::Absent;
    cur = std::move(next);
    start = slash + 1;
  }
}

}  // namespace

Result<std::string> ensure_unpacked(const layers::Store& store, const layers::Descriptor& layer,
                                    const layers::Digest& diff_id) {
  auto unpacked = layers::UnpackedLayers::open(store.unpacked_dir());
  if (!unpacked) return std::move(unpacked).error().context("unpacking layer " + layer.digest.str());
  // One pass over the blob, whiteouts written in overlay form by the applier itself, into
  // a scratch directory renamed into place (layers/unpacked_cache.h).
  // get_or_unpack names the layer by its diff_id; the blob's digest goes with opening it.
  return unpacked->get_or_unpack(diff_id, [&]() -> Result<layers::UniqueFd> {
    auto fd = store.blobs().open_read(layer.digest);
    if (!fd) return std::move(fd).error().context("reading blob " + layer.digest.str());
    return fd;
  });
}

void adopt_unpacked(const layers::Store& store, const std::string& dir, const layers::Digest& diff_id) {
  auto unpacked = layers::UnpackedLayers::open(store.unpacked_dir());
  if (unpacked) (void)unpacked->adopt(dir, diff_id);
}

LayerView::LayerView(std::vector<std::string> dirs) {
  for (auto& dir : dirs) layers_.push_back({std::move(dir), nullptr, {}});
}

namespace {

// What `layer` alone says of `rel` (clean), with its lstat when Present.
Presence look_in(const LayerView::Layer& layer, const std::string& rel, struct stat& st) {
  if (!layer.index) return look_in_layer(layer.dir, rel, st);
  const layers::IndexedEntry* entry = nullptr;
  switch (layer.index->look(rel, &entry)) {
    case layers::LayerIndex::Presence::Present:
      st = entry->to_stat();
      return Presence::Present;
    case layers::LayerIndex::Presence::Hidden:
      return Presence::Hidden;
    case layers::LayerIndex::Presence::Absent:
      break;
  }
  return Presence::Absent;
}

}  // namespace

std::optional<struct stat> LayerView::lookup(const std::string& rel) const {
  const std::string clean = clean_rel(rel);
  for (const auto& layer : layers_) {
    struct stat st;
    switch (look_in(layer, clean, st)) {
      case Presence::Present:
        return st;
      case Presence::Hidden:
        return std::nullopt;
      case Presence::Absent:
        break;
    }
  }
  return std::nullopt;
}

std::string LayerView::host_path(const std::string& rel) const {
  const std::string clean = clean_rel(rel);
  for (const auto& layer : layers_) {
    struct stat st;
    switch (look_in(layer, clean, st)) {
      case Presence::Present:
        if (layer.index) return "";
        return clean.empty() ? layer.dir : layer.dir + "/" + clean;
      case Presence::Hidden:
        return "";
      case Presence::Absent:
        break;
    }
  }
  return "";
}

Result<std::optional<std::string>> LayerView::read_regular_file(const std::string& rel, size_t max_bytes) const {
  const std::string clean = clean_rel(rel);
  for (const auto& layer : layers_) {
    struct stat st;
    switch (look_in(layer, clean, st)) {
      case Presence::Present: {
        if (!S_ISREG(st.st_mode)) return std::optional<std::string>();
        if (layer.index) {
          auto fd = store_->blobs().open_read(layer.blob.digest);
          if (!fd) return std::move(fd).error().context("reading layer " + layer.blob.digest.str());
          return layer.index->read_file(fd->get(), clean, max_bytes);
        }
        // Every parent is a real directory (look_in_layer checked); the file is not followed.
        const std::string path = layer.dir + "/" + clean;
        layers::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::optional<std::string>();
        if (uint64_t(st.st_size) > max_bytes)
          return Error(ErrorKind::InvalidInput, layers::quoted("/" + clean) + " is larger than " +
                                                    std::to_string(max_bytes) + " bytes");
        auto text = layers::read_fd(fd.get(), path, max_bytes);
        if (!text) return std::move(text).error();
        return std::optional<std::string>(std::move(*text));
      }
      case Presence::Hidden:
        return std::optional<std::string>();
      case Presence::Absent:
        break;
    }
  }
  return std::optional<std::string>();
}

Result<std::string> LayerView::resolve(const std::string& rel) const {
  constexpr int kMaxLinks = 40;  // Linux's MAXSYMLINKS
  std::vector<std::string> done, todo;  // todo: the components left, last first
  auto push_path = [&](const std::string& path) {
    const std::vector<std::string> parts = layers::path_components(path);
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  auto joined = [&] {
    std::string out;
    for (const auto& part : done) out += (out.empty() ? "" : "/") + part;
    return out;
  };
  push_path(rel);
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.back());
    todo.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(part);
    const std::string path = joined();
    std::optional<std::string> target;
    for (const auto& layer : layers_) {
      struct stat st;
      const Presence presence = look_in(layer, path, st);
      if (presence == Presence::Absent) continue;
      if (presence == Presence::Present && S_ISLNK(st.st_mode)) {
        if (layer.index) {
          const layers::IndexedEntry* entry = nullptr;
          layer.index->look(path, &entry);
          target = entry->link_target;
        } else {
          char buf[PATH_MAX];
          ssize_t n = ::readlink((layer.dir + "/" + path).c_str(), buf, sizeof buf);
          if (n < 0) return Error::from_errno("reading the link " + layers::quoted("/" + path));
          target = std::string(buf, size_t(n));
        }
      }
      break;
    }
    if (!target) continue;
    if (++links > kMaxLinks)
      return Error(ErrorKind::InvalidInput, layers::quoted("/" + rel) + ": too many levels of symbolic links");
    done.pop_back();
    if (target->starts_with('/')) done.clear();
    push_path(*target);
  }
  return joined();
}

std::vector<std::string> LayerView::dirs() const {
  std::vector<std::string> dirs;
  for (const auto& layer : layers_) {
    assert(!layer.index);
    dirs.push_back(layer.dir);
  }
  return dirs;
}

Result<void> check_layer_count(const std::vector<layers::Descriptor>& image_layers,
                               const std::vector<layers::Digest>& diff_ids) {
  if (image_layers.size() != diff_ids.size())
    return Error(ErrorKind::Corrupt, "the image lists " + std::to_string(image_layers.size()) +
                                         " layers but " + std::to_string(diff_ids.size()) + " diff_ids");
  return {};
}

Result<LayerView> index_view_of(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                                const std::vector<layers::Digest>& diff_ids) {
  if (auto r = check_layer_count(image_layers, diff_ids); !r) return std::move(r).error();
  std::vector<LayerView::Layer> view;
  for (size_t i = image_layers.size(); i-- > 0;) {
    const std::string dir = store.unpacked_path(diff_ids[i]);
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      view.push_back({dir, nullptr, image_layers[i]});
      continue;
    }
    auto index = store.layer_index(image_layers[i], diff_ids[i]);
    if (!index) return std::move(index).error();
    view.push_back({"", std::make_shared<const layers::LayerIndex>(std::move(*index)), image_layers[i]});
  }
  return LayerView(store, std::move(view));
}

Result<LayerView> view_of(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                          const std::vector<layers::Digest>& diff_ids) {
  if (auto r = check_layer_count(image_layers, diff_ids); !r) return std::move(r).error();
  // The layers not unpacked yet, each diff_id once (its first place), unpacked at once on
  // up to one thread per core; each into its own scratch directory (ensure_unpacked), so
  // threads share nothing but the store. The error is the lowest failing layer's.
  std::vector<size_t> missing;
  std::set<layers::Digest> seen;
  for (size_t i = 0; i < image_layers.size(); ++i)
    if (seen.insert(diff_ids[i]).second && ::access(store.unpacked_path(diff_ids[i]).c_str(), F_OK) != 0)
      missing.push_back(i);
  const int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  auto unpacked = layers::for_each_index(missing.size(), threads, [&](size_t k) -> Result<void> {
    const size_t i = missing[k];
    auto dir = ensure_unpacked(store, image_layers[i], diff_ids[i]);
    if (!dir)
      return std::move(dir).error().context("layer " + std::to_string(i + 1) + " of " +
                                            std::to_string(image_layers.size()));
    return {};
  });
  if (!unpacked) return std::move(unpacked).error();
  std::vector<LayerView::Layer> layers;
  for (size_t i = image_layers.size(); i-- > 0;) {
    auto dir = ensure_unpacked(store, image_layers[i], diff_ids[i]);
    if (!dir) return std::move(dir).error();
    layers.push_back({*dir, nullptr, image_layers[i]});
  }
  return LayerView(store, std::move(layers));
}

namespace {

Result<void> apply_layers(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                          const std::string& dest, const layers::UnpackOptions& options) {
  for (const auto& layer : image_layers) {
    auto fd = store.blobs().open_read(layer.digest);
    if (!fd) return std::move(fd).error().context("reading layer " + layer.digest.str());
    auto r = layers::unpack_layer(dest, fd->get(), options);
    if (!r) return std::move(r).error();
  }
  return {};
}

// A source's components before the first wildcard (layers::has_wildcard, COPY's rule),
// "." pivot (COPY --parents) or "..": every path it can name is at or below it.
std::string fixed_part(std::string_view source) {
  std::string out;
  for (const auto& part : layers::path_components(std::string(source))) {
    if (part == "." && out.empty()) continue;
    if (part == "." || part == ".." || layers::has_wildcard(part)) break;
    out = layers::join_under(out, part);
  }
  return out;
}

// `rel`'s parents, "" left out.
void add_parents(const std::string& rel, std::set<std::string>& out) {
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1))
    out.insert(rel.substr(0, slash));
}

}  // namespace

Result<void> materialize_rootfs(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                                const std::string& dest) {
  return apply_layers(store, image_layers, dest, {});
}

Result<uint64_t> materialize_sources(const layers::Store& store, const std::vector<layers::Descriptor>& image_layers,
                                     const std::vector<layers::Digest>& diff_ids,
                                     const std::vector<std::string>& sources, const std::string& dest) {
  if (auto r = check_layer_count(image_layers, diff_ids); !r) return std::move(r).error();
  // Each layer's index, read once: for resolving the sources and for listing the symlinks.
  std::vector<std::shared_ptr<const layers::LayerIndex>> indexes;
  for (size_t i = 0; i < image_layers.size(); ++i) {
    auto index = store.layer_index(image_layers[i], diff_ids[i]);
    if (!index) return std::move(index).error();
    indexes.push_back(std::make_shared<const layers::LayerIndex>(std::move(*index)));
  }
  std::vector<LayerView::Layer> top_first;
  for (size_t i = image_layers.size(); i-- > 0;) top_first.push_back({"", indexes[i], image_layers[i]});
  const LayerView view(store, std::move(top_first));
  std::vector<std::string> subtrees;
  for (const auto& source : sources) {
    std::string fixed = fixed_part(source);
    auto resolved = view.resolve(fixed);
    if (fixed.empty() || (resolved && resolved->empty())) {
      if (auto r = materialize_rootfs(store, image_layers, dest); !r) return std::move(r).error();
      return uint64_t(0);
    }
    subtrees.push_back(fixed);
    if (resolved && *resolved != fixed) subtrees.push_back(*resolved);
  }
  auto in_subtrees = [&](const std::string& rel) {
    return std::any_of(subtrees.begin(), subtrees.end(),
                       [&](const std::string& s) { return rel == s || layers::is_below(rel, s); });
  };
  // Every symlink, and the data of hardlinks kept.
  std::set<std::string> exact, parents;
  for (const auto& index : indexes)
    for (const auto& [path, entry] : index->entries()) {
      if (S_ISLNK(entry.mode)) exact.insert(path);
      if (!entry.hardlink.empty() && in_subtrees(path)) exact.insert(entry.hardlink);
    }
  for (const auto& path : exact) add_parents(path, parents);
  for (const auto& s : subtrees) add_parents(s, parents);
  uint64_t left_out = 0;
  layers::UnpackOptions options;
  options.only = [&](const std::string& rel) {
    const bool keep = exact.count(rel) || parents.count(rel) || in_subtrees(rel);
    if (!keep) ++left_out;
    return keep;
  };
  if (auto r = apply_layers(store, image_layers, dest, options); !r) return std::move(r).error();
  return left_out;
}

}  // namespace runtime
