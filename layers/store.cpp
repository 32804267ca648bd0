#include "layers/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "layers/compressed_layers.h"
#include "layers/layer_size.h"
#include "layers/remove_tree.h"

namespace layers {

namespace {

constexpr std::string_view kLayoutFile = "{\"imageLayoutVersion\":\"1.0.0\"}";
constexpr size_t kMaxIndexBytes = 64 << 20;  // index.json grows with tags; generous
constexpr int kMaxIndexDepth = 4;              // nested image indexes we follow
constexpr size_t kMaxLayerIndexBytes = size_t(1) << 30;  // 4M entries of a long path each

bool is_hex_prefix(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// What index.json reaches, for gc and fsck.
struct Reach {
  std::set<Digest> blobs;
  std::set<Digest> diff_ids;
  std::vector<std::string> problems;
};

void note_blob(const BlobStore& blobs, const Descriptor& d, std::string_view where, Reach& reach,
               bool required) {
  reach.blobs.insert(d.digest);
  auto size = blobs.size(d.digest);
  if (!size) {
    if (required) reach.problems.push_back(std::string(where) + ": blob " + d.digest.str() + " is missing");
    return;
  }
  if (static_cast<int64_t>(*size) != d.size)
    reach.problems.push_back(std::string(where) + ": blob " + d.digest.str() + " is " +
                             std::to_string(*size) + " bytes, its descriptor says " +
                             std::to_string(d.size));
}

void walk(const BlobStore& blobs, const Descriptor& d, const std::string& where, Reach& reach,
          int depth, bool required) {
  note_blob(blobs, d, where, reach, required);
  if (!blobs.has(d.digest)) return;
  if (is_index_type(d.media_type)) {
    if (depth >= kMaxIndexDepth) {
      reach.problems.push_back(where + ": image indexes nested too deep");
      return;
    }
    auto text = blobs.read_all(d.digest, kMaxManifestBytes);
    auto index = text ? parse_index(*text, "index " + d.digest.str()) : Result<Index>(text.error());
    if (!index) {
      reach.problems.push_back(where + ": " + index.error().describe());
      return;
    }
    // A platform-specific pull keeps the index but only the host's manifest: the others
    // may be missing without the store being broken.
    for (const auto& child : index->manifests)
      walk(blobs, child, where + " > " + child.digest.str(), reach, depth + 1, false);
    return;
  }
  if (!is_manifest_type(d.media_type)) return;
  auto text = blobs.read_all(d.digest, kMaxManifestBytes);
  auto manifest =
      text ? parse_manifest(*text, "manifest " + d.digest.str()) : Result<Manifest>(text.error());
  if (!manifest) {
    reach.problems.push_back(where + ": " + manifest.error().describe());
    return;
  }
  note_blob(blobs, manifest->config, where + " config", reach, true);
  for (const auto& layer : manifest->layers)
    note_blob(blobs, layer, where + " layer", reach, true);
  // An artifact (the build cache's, builder/shared_cache.h) has a config of its own
  // kind: its blobs are reached, but it names no diff_ids.
  const std::string& config_type = manifest->config.media_type;
  if (config_type != media_type::kOciConfig && config_type != media_type::kDockerConfig) return;
  auto config_text = blobs.read_all(manifest->config.digest, kMaxConfigBytes);
  if (!config_text) return;  // already reported as missing, or reported by fsck's verify
  auto config = parse_image_config(*config_text, "config " + manifest->config.digest.str());
  if (!config) {
    reach.problems.push_back(where + ": " + config.error().describe());
    return;
  }
  for (const auto& id : config->diff_ids) reach.diff_ids.insert(id);
}

Result<Reach> reach_from_index(const Store& store) {
  auto index = store.read_index();
  if (!index) return std::move(index).error();
  Reach reach;
  for (const auto& d : index->manifests) {
    std::string name = d.ref_name();
    walk(store.blobs(), d, "index.json " + (name.empty() ? d.digest.str() : layers::quoted(name)), reach,
         0, true);
  }
  return reach;
}

}  // namespace

// ---- FileLock ----

static Result<UniqueFd> open_lock_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return Error::from_errno("opening lock " + layers::quoted(path));
  return fd;
}

Result<FileLock> FileLock::acquire(const std::string& path, bool exclusive) {
  auto fd = open_lock_file(path);
  if (!fd) return std::move(fd).error();
  while (::flock(fd->get(), exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    return Error::from_errno("locking " + layers::quoted(path));
  }
  return FileLock(std::move(*fd));
}

Result<std::optional<FileLock>> FileLock::try_acquire(const std::string& path, bool exclusive) {
  auto fd = open_lock_file(path);
  if (!fd) return std::move(fd).error();
  if (::flock(fd->get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<FileLock>();
    return Error::from_errno("locking " + layers::quoted(path));
  }
  return std::optional<FileLock>(FileLock(std::move(*fd)));
}

bool FileLock::is_held(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  while (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK;
  }
  return false;
}

// ---- Image ----

int64_t Image::size() const {
  int64_t total = descriptor.size + manifest.config.size;
  for (const auto& l : manifest.layers) total += l.size;
  return total;
}

// ---- Store ----

namespace {

// Creates `dir` 0700 (its parents as make_dirs does), or takes group and other access
// away from an existing one: unpacked layers hold set-uid files and device nodes of any
// image, and other users must not reach them (docker keeps its data root 0710).
Result<void> make_private_dir(const std::string& dir) {
  std::string parent = std::filesystem::path(dir).parent_path().string();
  if (!parent.empty())
    if (auto r = make_dirs(parent); !r) return r;
  if (::mkdir(dir.c_str(), 0700) == 0) return {};
  if (errno != EEXIST) return Error::from_errno("creating directory " + layers::quoted(dir));
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening directory " + layers::quoted(dir));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + layers::quoted(dir));
  if ((st.st_mode & 077) == 0) return {};
  // A shared directory (/tmp) is never the store itself; chmod-ing it would break others.
  if (st.st_mode & S_ISVTX)
    return Error(ErrorKind::InvalidInput,
                 layers::quoted(dir) + " is a shared directory (sticky bit): not usable as the store");
  if (::fchmod(fd.get(), st.st_mode & 07700) != 0)
    return Error::from_errno("taking group and other access away from " + layers::quoted(dir));
  return {};
}

}  // namespace


std::string Store::default_root() {
  if (::geteuid() == 0) return "/var/lib/hoist";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && xdg[0] == '/')
    return std::string(xdg) + "/hoist";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/share/hoist";
}

Result<Store> Store::open(const std::string& root) {
  if (root.empty()) return Error(ErrorKind::InvalidInput, "the store root is empty");
  if (auto r = make_private_dir(root); !r) return std::move(r).error().context("opening store " + layers::quoted(root));
  auto blobs = BlobStore::open(root);
  if (!blobs) return std::move(blobs).error().context("opening store " + layers::quoted(root));
  Store store(root, std::move(*blobs));
  for (const std::string& dir : {store.locks_dir(), store.cache_dir()})
    if (auto r = make_dirs(dir); !r) return std::move(r).error().context("opening store " + layers::quoted(root));
  for (const std::string& dir : {store.unpacked_dir(), store.containers_dir()})
    if (auto r = make_private_dir(dir); !r) return std::move(r).error().context("opening store " + layers::quoted(root));

  std::string layout = root + "/oci-layout";
  if (::access(layout.c_str(), F_OK) != 0)
    if (auto r = write_file_atomic(layout, kLayoutFile); !r)
      return std::move(r).error().context("opening store " + layers::quoted(root));
  std::string index_path = root + "/index.json";
  if (::access(index_path.c_str(), F_OK) != 0) {
    auto lock = FileLock::acquire(store.locks_dir() + "/index.lock", true);
    if (!lock) return std::move(lock).error().context("opening store " + layers::quoted(root));
    if (::access(index_path.c_str(), F_OK) != 0)
      if (auto r = write_file_atomic(index_path, Index().to_json()); !r)
        return std::move(r).error().context("opening store " + layers::quoted(root));
  }
  return store;
}

Result<Index> Store::read_index() const {
  std::string path = root_ + "/index.json";
  auto text = read_file(path, kMaxIndexBytes);
  if (!text) return std::move(text).error();
  return parse_index(*text, layers::quoted(path), kMaxIndexBytes);
}

Result<std::vector<ImageEntry>> Store::list() const {
  auto index = read_index();
  if (!index) return std::move(index).error();
  std::vector<ImageEntry> out;
  for (const auto& d : index->manifests) out.push_back({d.ref_name(), d});
  return out;
}

Result<Descriptor> Store::find_tag(std::string_view name) const {
  auto index = read_index();
  if (!index) return std::move(index).error();
  for (const auto& d : index->manifests)
    if (d.ref_name() == name) return d;
  return Error(ErrorKind::NotFound, "no such image: " + std::string(name));
}

Result<Descriptor> Store::find_id(std::string_view id) const {
  std::string_view hex = id;
  if (hex.starts_with("sha256:")) hex.remove_prefix(7);
  if (!is_hex_prefix(hex) || hex.size() < 4)
    return Error(ErrorKind::NotFound, "no such image: " + std::string(id));
  auto index = read_index();
  if (!index) return std::move(index).error();
  std::optional<Descriptor> found;
  for (const auto& d : index->manifests) {
    bool match = d.digest.hex().starts_with(hex);
    if (!match) {
      auto image = load_image(d);
      match = image && image->id().hex().starts_with(hex);
    }
    if (!match) continue;
    if (found && found->digest != d.digest)
      return Error(ErrorKind::InvalidInput,
                   "image id prefix " + layers::quoted(id) + " is ambiguous: it matches more than one image");
    found = d;
  }
  if (!found) return Error(ErrorKind::NotFound, "no such image: " + std::string(id));
  return *found;
}

Result<Descriptor> Store::resolve(std::string_view name_or_id) const {
  auto by_name = find_tag(name_or_id);
  if (by_name || by_name.error().kind() != ErrorKind::NotFound) return by_name;
  return find_id(name_or_id);
}

Result<std::vector<std::string>> Store::names_of(const Digest& manifest_digest) const {
  auto entries = list();
  if (!entries) return std::move(entries).error();
  std::vector<std::string> out;
  for (const auto& e : *entries)
    if (e.descriptor.digest == manifest_digest && !e.name.empty()) out.push_back(e.name);
  return out;
}

Result<void> Store::update_index(const std::function<Result<void>(Index&)>& change) {
  auto lock = FileLock::acquire(locks_dir() + "/index.lock", true);
  if (!lock) return std::move(lock).error().context("updating index.json");
  auto index = read_index();
  if (!index) return std::move(index).error().context("updating index.json");
  if (auto r = change(*index); !r) return r;
  if (auto r = write_file_atomic(root_ + "/index.json", index->to_json()); !r)
    return std::move(r).error().context("updating index.json");
  return {};
}

namespace {

std::vector<std::string> split_repo_digests(const Descriptor& entry) {
  std::vector<std::string> out;
  auto it = entry.annotations.find(std::string(annotation::kRepoDigests));
  if (it == entry.annotations.end()) return out;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    if (!one.empty()) out.emplace_back(one);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return out;
}

// Every repo digest of the entries pointing at `digest`, in first-seen order.
std::vector<std::string> repo_digests_in(const Index& index, const Digest& digest) {
  std::vector<std::string> out;
  for (const auto& d : index.manifests) {
    if (d.digest != digest) continue;
    for (auto& one : split_repo_digests(d))
      if (std::find(out.begin(), out.end(), one) == out.end()) out.push_back(std::move(one));
  }
  return out;
}

void set_repo_digests(Descriptor& entry, const std::vector<std::string>& repo_digests) {
  std::string joined;
  for (const auto& one : repo_digests) joined += (joined.empty() ? "" : ",") + one;
  if (joined.empty())
    entry.annotations.erase(std::string(annotation::kRepoDigests));
  else
    entry.annotations[std::string(annotation::kRepoDigests)] = joined;
}

}  // namespace

Result<std::vector<std::string>> Store::repo_digests_of(const Digest& manifest_digest) const {
  auto index = read_index();
  if (!index) return std::move(index).error();
  return repo_digests_in(*index, manifest_digest);
}

Result<void> Store::add_repo_digest(const Digest& manifest_digest, std::string_view repo_digest) {
  return update_index([&](Index& index) -> Result<void> {
    std::vector<std::string> all = repo_digests_in(index, manifest_digest);
    if (std::find(all.begin(), all.end(), repo_digest) != all.end()) return {};
    all.emplace_back(repo_digest);
    for (auto& d : index.manifests)
      if (d.digest == manifest_digest) set_repo_digests(d, all);
    return {};
  });
}

Result<void> Store::set_tag(std::string_view name, const Descriptor& descriptor) {
  if (name.empty()) return Error(ErrorKind::InvalidInput, "tagging an image: empty name");
  return update_index([&](Index& index) -> Result<void> {
    const std::vector<std::string> repo_digests = repo_digests_in(index, descriptor.digest);
    std::erase_if(index.manifests, [&](const Descriptor& d) { return d.ref_name() == name; });
    Descriptor tagged = descriptor;
    set_repo_digests(tagged, repo_digests);
    tagged.annotations[std::string(annotation::kRefName)] = std::string(name);
    index.manifests.push_back(std::move(tagged));
    return {};
  });
}

Result<Descriptor> Store::remove_tag(std::string_view name) {
  std::optional<Descriptor> removed;
  auto r = update_index([&](Index& index) -> Result<void> {
    for (auto it = index.manifests.begin(); it != index.manifests.end(); ++it) {
      if (it->ref_name() != name) continue;
      removed = *it;
      index.manifests.erase(it);
      return {};
    }
    return Error(ErrorKind::NotFound, "no such image: " + std::string(name));
  });
  if (!r) return std::move(r).error();
  return *removed;
}

Result<void> Store::add_untagged(const Descriptor& descriptor) {
  return update_index([&](Index& index) -> Result<void> {
    for (const auto& d : index.manifests)
      if (d.digest == descriptor.digest) return {};
    Descriptor untagged = descriptor;
    untagged.annotations.erase(std::string(annotation::kRefName));
    index.manifests.push_back(std::move(untagged));
    return {};
  });
}

Result<std::vector<std::string>> Store::remove_image(const Digest& manifest_digest) {
  std::vector<std::string> names;
  auto r = update_index([&](Index& index) -> Result<void> {
    size_t before = index.manifests.size();
    std::erase_if(index.manifests, [&](const Descriptor& d) {
      if (d.digest != manifest_digest) return false;
      if (std::string name = d.ref_name(); !name.empty()) names.push_back(std::move(name));
      return true;
    });
    if (index.manifests.size() == before)
      return Error(ErrorKind::NotFound, "no such image: " + manifest_digest.str());
    return {};
  });
  if (!r) return std::move(r).error();
  return names;
}

Result<Image> Store::load_image(const Descriptor& descriptor,
                                const std::optional<Platform>& platform) const {
  Descriptor d = descriptor;
  for (int depth = 0; is_index_type(d.media_type); ++depth) {
    if (depth >= kMaxIndexDepth)
      return Error(ErrorKind::InvalidInput, "image index " + descriptor.digest.str() + " nests too deep");
    auto text = blobs_.read_all(d.digest, kMaxManifestBytes);
    if (!text) return std::move(text).error().context("reading image index " + d.digest.str());
    auto index = parse_index(*text, "image index " + d.digest.str());
    if (!index) return std::move(index).error();
    Platform want = platform ? *platform : Platform::host();
    const Descriptor* pick = nullptr;
    for (const auto& m : index->manifests) {
      if (!m.platform || m.platform->os != want.os || m.platform->architecture != want.architecture)
        continue;
      if (!want.variant.empty() && !m.platform->variant.empty() && m.platform->variant != want.variant)
        continue;
      if (!blobs_.has(m.digest)) continue;
      pick = &m;
      break;
    }
    if (!pick)
      return Error(ErrorKind::NotFound, "image index " + d.digest.str() + " has no manifest for " +
                                            want.str() + " in the store");
    d = *pick;
  }
  if (!is_manifest_type(d.media_type))
    return Error(ErrorKind::Unsupported,
                 "descriptor " + d.digest.str() + " has media type " + layers::quoted(d.media_type) +
                     ", not an image manifest");
  auto text = blobs_.read_all(d.digest, kMaxManifestBytes);
  if (!text) return std::move(text).error().context("reading manifest " + d.digest.str());
  auto manifest = parse_manifest(*text, "manifest " + d.digest.str());
  if (!manifest) return std::move(manifest).error();
  auto config_text = blobs_.read_all(manifest->config.digest, kMaxConfigBytes);
  if (!config_text)
    return std::move(config_text).error().context("reading image config " + manifest->config.digest.str());
  auto config = parse_image_config(*config_text, "image config " + manifest->config.digest.str());
  if (!config) return std::move(config).error();
  if (config->diff_ids.size() != manifest->layers.size())
    return Error(ErrorKind::InvalidInput,
                 "manifest " + d.digest.str() + " lists " + std::to_string(manifest->layers.size()) +
                     " layers but its config has " + std::to_string(config->diff_ids.size()) +
                     " diff_ids");
  return Image{std::move(d), std::move(*manifest), std::move(*config)};
}

Result<Descriptor> Store::put_image(const ImageConfig& config, const std::vector<Descriptor>& layers,
                                    Flavor flavor) const {
  std::string config_json = config.to_json();
  auto config_digest = blobs_.put_bytes(config_json);
  if (!config_digest) return std::move(config_digest).error().context("storing image config");
  Manifest manifest;
  manifest.media_type = convert_media_type(media_type::kOciManifest, flavor);
  manifest.config.media_type = convert_media_type(media_type::kOciConfig, flavor);
  manifest.config.digest = *config_digest;
  manifest.config.size = static_cast<int64_t>(config_json.size());
  for (const auto& l : layers) {
    Descriptor layer = l;
    layer.media_type = convert_media_type(l.media_type, flavor);
    layer.platform.reset();
    manifest.layers.push_back(std::move(layer));
  }
  std::string manifest_json = manifest.to_json();
  auto manifest_digest = blobs_.put_bytes(manifest_json);
  if (!manifest_digest) return std::move(manifest_digest).error().context("storing manifest");
  Descriptor out;
  out.media_type = manifest.media_type;
  out.digest = *manifest_digest;
  out.size = static_cast<int64_t>(manifest_json.size());
  Platform platform;
  platform.os = config.os;
  platform.architecture = config.architecture;
  platform.variant = config.variant;
  out.platform = platform;
  return out;
}

int64_t Store::layer_content_size(const Descriptor& layer) const {
  const std::string dir = root_ + "/hoist-sizes";
  const std::string path = dir + "/" + std::string(layer.digest.hex());
  if (auto text = read_file(path, 32)) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc() && end == text->data() + text->size() && value >= 0) return value;
  }
  auto fd = blobs_.open_read(layer.digest);
  if (!fd) return layer.size;
  auto size = layers::layer_content_size(fd->get());
  if (!size) return layer.size;
  // Remembered best-effort: a read-only store just measures again next time.
  if (make_dirs(dir)) (void)write_file_atomic(path, std::to_string(*size));
  return *size;
}

Result<LayerIndex> Store::layer_index(const Descriptor& layer, const Digest& diff_id) const {
  const std::string dir = root_ + "/hoist-index";
  const std::string path = dir + "/" + std::string(layer.digest.hex());
  if (auto text = read_file(path, kMaxLayerIndexBytes))
    if (auto index = LayerIndex::parse(*text, diff_id)) return index;
  auto fd = blobs_.open_read(layer.digest);
  if (!fd) return std::move(fd).error().context("reading layer " + layer.digest.str());
  auto index = LayerIndex::of_layer(fd->get(), diff_id);
  if (!index) return index;
  // Kept best-effort: a read-only store just reads the layer again next time.
  if (make_dirs(dir)) (void)write_file_atomic(path, index->serialize());
  return index;
}

int64_t Store::content_size(const Image& image) const {
  int64_t total = 0;
  for (const auto& layer : image.manifest.layers) total += layer_content_size(layer);
  return total;
}

Result<FileLock> Store::gc_shared_lock() const {
  return FileLock::acquire(locks_dir() + "/gc.lock", false);
}

Result<std::optional<GcReport>> Store::gc(bool wait,
                                          const std::function<Result<size_t>()>& sweep_more) const {
  std::optional<FileLock> lock;
  if (wait) {
    auto l = FileLock::acquire(locks_dir() + "/gc.lock", true);
    if (!l) return std::move(l).error();
    lock.emplace(std::move(*l));
  } else {
    auto l = FileLock::try_acquire(locks_dir() + "/gc.lock", true);
    if (!l) return std::move(l).error();
    if (!*l) return std::optional<GcReport>();
    lock = std::move(*l);
  }
  // No tag can change while we sweep: a half-tagged image would look unreferenced.
  auto index_lock = FileLock::acquire(locks_dir() + "/index.lock", true);
  if (!index_lock) return std::move(index_lock).error();

  auto reach = reach_from_index(*this);
  if (!reach) return std::move(reach).error().context("collecting garbage");
  // A broken store is fsck's job; sweeping on a partial picture could delete live blobs.
  if (!reach->problems.empty())
    return Error(ErrorKind::Corrupt, "collecting garbage: refusing to sweep a damaged store (" +
                                         reach->problems.front() + "); run 'hoist fsck'");
  // Compressed blobs of live layers stay, so the next push does not compress them again.
  sweep_compressed_records(*this, reach->diff_ids, reach->blobs);
  GcReport report;
  auto listing = blobs_.list();
  if (!listing) return std::move(listing).error();
  for (const auto& digest : listing->blobs) {
    if (reach->blobs.count(digest)) continue;
    auto size = blobs_.size(digest);
    if (auto r = blobs_.remove(digest); !r) return std::move(r).error();
    ++report.blobs_removed;
    report.bytes_removed += size ? *size : 0;
  }
  std::error_code ec;
  // Listed first: renaming while iterating could show a renamed entry twice.
  std::vector<std::string> unpacked_names;
  for (std::filesystem::directory_iterator it(unpacked_dir(), ec), end; !ec && it != end; it.increment(ec))
    unpacked_names.push_back(it->path().filename().string());
  if (ec) return Error(ErrorKind::Io, "listing " + layers::quoted(unpacked_dir()), ec.value());
  for (const std::string& name : unpacked_names) {
    auto diff_id = Digest::from_hex(name);
    if (diff_id && reach->diff_ids.count(*diff_id)) continue;
    // Also an unpack's .tmp-* scratch: unpackers hold gc_shared_lock, so it is dead.
    const std::string named = unpacked_dir() + "/" + name;
    std::string path = named;
    // A layer is renamed out of its name before its files go: killed halfway, gc would
    // leave a half-emptied hoist-unpacked/<diff_id> that the next build uses as the layer.
    // The .tmp-* name is swept by the next gc.
    if (diff_id) {
      std::string doomed = unpacked_dir() + "/.tmp-gc-" + name;
      auto old = remove_tree(doomed);  // a previous gc's, killed before it finished
      if (!old) return std::move(old).error();
      if (!*old) continue;
      if (::rename(named.c_str(), doomed.c_str()) != 0)
        return Error::from_errno("renaming " + layers::quoted(named) + " to " + layers::quoted(doomed));
      if (auto r = fsync_dir(unpacked_dir()); !r) return std::move(r).error();
      path = std::move(doomed);
    }
    auto gone = remove_tree(path);
    if (!gone) return std::move(gone).error();
    if (*gone) ++report.unpacked_removed;
    // A mount beneath it (a dead sandbox's) kept it: give the layer its name back.
    if (!*gone && diff_id) (void)::rename(path.c_str(), named.c_str());
  }
  auto temps = blobs_.remove_dead_temp_files();
  if (!temps) return std::move(temps).error();
  report.temp_files_removed = *temps;
  // Remembered layer sizes and indexes of blobs that are gone.
  for (const char* memo : {"/hoist-sizes", "/hoist-index"}) {
    for (std::filesystem::directory_iterator it(root_ + memo, ec), end; !ec && it != end; it.increment(ec)) {
      const auto& entry = *it;
      auto digest = Digest::from_hex(entry.path().filename().string());
      if (digest && blobs_.has(*digest)) continue;
      (void)::unlink(entry.path().c_str());
    }
    ec.clear();  // missing is fine
  }
  // write_file_atomic's "index.json.tmp-XXXXXX": its writer held the index lock we hold.
  for (std::filesystem::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    std::string name = entry.path().filename().string();
    if (!name.starts_with("index.json.tmp-")) continue;
    if (::unlink(entry.path().c_str()) == 0) ++report.temp_files_removed;
  }
  if (ec) return Error(ErrorKind::Io, "listing " + layers::quoted(root_), ec.value());
  if (sweep_more) {
    auto more = sweep_more();
    if (!more) return std::move(more).error();
    report.temp_files_removed += *more;
  }
  return std::optional<GcReport>(report);
}

Result<FsckReport> Store::fsck() const {
  FsckReport report;
  auto layout = read_file(root_ + "/oci-layout", 4096);
  if (!layout) {
    report.problems.push_back("oci-layout: " + layout.error().describe());
  } else {
    auto j = parse_json(*layout, 4096, "oci-layout");
    if (!j || !j->contains("imageLayoutVersion") || !(*j)["imageLayoutVersion"].is_string())
      report.problems.push_back("oci-layout: not an OCI layout file");
  }
  auto listing = blobs_.list();
  if (!listing) return std::move(listing).error();
  for (const auto& stray : listing->strays)
    report.problems.push_back("blobs/sha256/" + stray + ": not named by a sha256 digest");
  for (const auto& digest : listing->blobs) {
    ++report.blobs_checked;
    if (auto r = blobs_.verify(digest); !r) report.problems.push_back(r.error().describe());
  }
  auto reach = reach_from_index(*this);
  if (!reach) {
    report.problems.push_back("index.json: " + reach.error().describe());
    return report;
  }
  for (auto& p : reach->problems) report.problems.push_back(std::move(p));
  return report;
}

}  // namespace layers
