#include "layers/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "layers/archive_handles.h"
#include "layers/compress.h"
#include "layers/json_text.h"
#include "layers/unique_fd.h"

namespace layers {

using json = nlohmann::json;

namespace {

constexpr size_t kChunk = 1 << 16;
constexpr size_t kMaxArchiveImages = 4096;

Error archive_error(archive* a, std::string what) {
  const char* msg = archive_error_string(a);
  return Error(ErrorKind::Io, what + ": " + (msg ? msg : "libarchive error"));
}

// ---- writing ----

class TarOut {
 public:
  static Result<TarOut> open(int fd) {
    ArchiveWritePtr a(archive_write_new());
    if (!a || archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
        archive_write_open_fd(a.get(), fd) != ARCHIVE_OK)
      return archive_error(a.get(), "starting the archive");
    return TarOut(std::move(a));
  }

  Result<void> dir(const std::string& name) {
    if (!dirs_.insert(name).second) return {};
    auto e = entry(name, AE_IFDIR, 0755, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      return archive_error(a_.get(), "writing " + layers::quoted(name));
    return {};
  }

  Result<void> file(const std::string& name, std::string_view data) {
    auto e = entry(name, AE_IFREG, 0644, static_cast<int64_t>(data.size()));
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      return archive_error(a_.get(), "writing " + layers::quoted(name));
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0)
      return archive_error(a_.get(), "writing " + layers::quoted(name));
    return {};
  }

  // Copies `size` bytes from `fd` (from its current offset) as the member `name`.
  Result<void> file_from_fd(const std::string& name, int fd, int64_t size) {
    auto e = entry(name, AE_IFREG, 0644, size);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      return archive_error(a_.get(), "writing " + layers::quoted(name));
    std::unique_ptr<char[]> buf(new char[kChunk]);
    int64_t left = size;
    while (left > 0) {
      ssize_t n = ::read(fd, buf.get(), static_cast<size_t>(std::min<int64_t>(left, kChunk)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("reading data for " + layers::quoted(name));
      if (n == 0) return Error(ErrorKind::Corrupt, layers::quoted(name) + ": data ended early");
      if (archive_write_data(a_.get(), buf.get(), static_cast<size_t>(n)) < 0)
        return archive_error(a_.get(), "writing " + layers::quoted(name));
      left -= n;
    }
    return {};
  }

  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK)
      return archive_error(a_.get(), "finishing the archive");
    return {};
  }

 private:
  explicit TarOut(ArchiveWritePtr a) : a_(std::move(a)) {}
  static ArchiveEntryPtr entry(const std::string& name, unsigned type, int perm, int64_t size) {
    ArchiveEntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    return e;
  }

  ArchiveWritePtr a_;
  std::set<std::string> dirs_;
};

// An unnamed temp file in `dir`: gone when closed, whatever happens to the process.
Result<UniqueFd> anonymous_temp(const std::string& dir) {
  std::string tmpl = dir + "/save-XXXXXX";
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) return Error::from_errno("creating a temp file in " + layers::quoted(dir));
  ::unlink(tmpl.c_str());
  return fd;
}

// Writes a layer uncompressed as `name`, checking it against `diff_id`.
Result<void> write_plain_layer(TarOut& tar, const Store& store, const Descriptor& layer,
                               const Digest& diff_id, const std::string& name) {
  auto blob = store.blobs().open_read(layer.digest);
  if (!blob) return std::move(blob).error();
  auto tmp = anonymous_temp(store.blobs().tmp_dir());
  if (!tmp) return std::move(tmp).error();
  Sha256 hash;
  int out = tmp->get();
  auto compression = decompress(blob->get(), [&](std::span<const std::byte> data) -> Result<void> {
    hash.update(data);
    const char* p = reinterpret_cast<const char*>(data.data());
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(out, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("writing a temp file");
      p += n;
      left -= static_cast<size_t>(n);
    }
    return {};
  });
  if (!compression) return std::move(compression).error().context("decompressing layer " + layer.digest.str());
  int64_t size = static_cast<int64_t>(hash.bytes());
  if (Digest actual = hash.finish(); actual != diff_id)
    return Error(ErrorKind::Corrupt, "layer " + layer.digest.str() + " unpacks to " + actual.str() +
                                         ", but the config says " + diff_id.str());
  if (::lseek(out, 0, SEEK_SET) != 0) return Error::from_errno("rewinding a temp file");
  return tar.file_from_fd(name, out, size);
}

Result<void> write_blob(TarOut& tar, const Store& store, const Digest& digest,
                        const std::string& name) {
  auto fd = store.blobs().open_read(digest);
  if (!fd) return std::move(fd).error();
  auto size = store.blobs().size(digest);
  if (!size) return std::move(size).error();
  return tar.file_from_fd(name, fd->get(), static_cast<int64_t>(*size));
}

Result<void> write_docker(TarOut& tar, const Store& store, const std::vector<ArchiveImage>& images) {
  json manifest = json::array();
  json repositories = json::object();
  std::set<std::string> written;
  for (const auto& item : images) {
    auto image = store.load_image(item.descriptor);
    if (!image) return std::move(image).error();
    json layer_names = json::array();
    for (size_t i = 0; i < image->manifest.layers.size(); ++i) {
      const Digest& diff_id = image->config.diff_ids[i];
      std::string dir(diff_id.hex());
      std::string name = dir + "/layer.tar";
      layer_names.push_back(name);
      if (!written.insert(name).second) continue;
      if (auto r = tar.dir(dir + "/"); !r) return r;
      if (auto r = write_plain_layer(tar, store, image->manifest.layers[i], diff_id, name); !r)
        return r;
    }
    std::string config_name = std::string(image->id().hex()) + ".json";
    if (written.insert(config_name).second)
      if (auto r = write_blob(tar, store, image->id(), config_name); !r) return r;
    json tags = json::array();
    for (const auto& n : item.names) {
      tags.push_back(n);
      size_t colon = n.rfind(':');
      if (colon != std::string::npos && !image->config.diff_ids.empty())
        repositories[n.substr(0, colon)][n.substr(colon + 1)] =
            std::string(image->config.diff_ids.back().hex());
    }
    manifest.push_back({{"Config", config_name}, {"RepoTags", tags}, {"Layers", layer_names}});
  }
  if (auto r = tar.file("manifest.json", dump_json(manifest)); !r) return r;
  if (!repositories.empty())
    if (auto r = tar.file("repositories", dump_json(repositories)); !r) return r;
  return {};
}

Result<void> write_oci(TarOut& tar, const Store& store, const std::vector<ArchiveImage>& images) {
  if (auto r = tar.file("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"); !r) return r;
  if (auto r = tar.dir("blobs/"); !r) return r;
  if (auto r = tar.dir("blobs/sha256/"); !r) return r;
  Index index;
  std::set<Digest> written;
  auto put = [&](const Digest& d) -> Result<void> {
    if (!written.insert(d).second) return {};
    return write_blob(tar, store, d, "blobs/sha256/" + std::string(d.hex()));
  };
  for (const auto& item : images) {
    auto image = store.load_image(item.descriptor);
    if (!image) return std::move(image).error();
    for (const auto& l : image->manifest.layers)
      if (auto r = put(l.digest); !r) return r;
    if (auto r = put(image->id()); !r) return r;
    if (auto r = put(image->descriptor.digest); !r) return r;
    Descriptor d = image->descriptor;
    d.annotations.clear();
    if (item.names.empty()) index.manifests.push_back(d);
    for (const auto& n : item.names) {
      Descriptor named = d;
      named.annotations[std::string(annotation::kRefName)] = n;
      named.annotations[std::string(annotation::kContainerdImageName)] = n;
      index.manifests.push_back(std::move(named));
    }
  }
  return tar.file("index.json", index.to_json());
}

// ---- reading ----

class TarIn {
 public:
  static Result<TarIn> open(const std::string& path) {
    ArchiveReadPtr a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), path.c_str(), kChunk) != ARCHIVE_OK)
      return archive_error(a.get(), "opening " + layers::quoted(path));
    return TarIn(std::move(a), path);
  }

  // The next member's normalized name ("./a/b" -> "a/b"), or nullopt at the end.
  Result<std::optional<std::string>> next() {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a_.get(), &e);
    if (r == ARCHIVE_EOF) return std::optional<std::string>();
    if (r < ARCHIVE_WARN) return archive_error(a_.get(), "reading " + layers::quoted(path_));
    entry_ = e;
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    while (name.starts_with("./")) name.erase(0, 2);
    while (name.starts_with("/")) name.erase(0, 1);
    return std::optional<std::string>(name);
  }
  bool is_file() const { return archive_entry_filetype(entry_) == AE_IFREG; }
  bool is_symlink() const { return archive_entry_filetype(entry_) == AE_IFLNK; }
  std::string symlink_target() const {
    const char* t = archive_entry_symlink(entry_);
    return t ? t : "";
  }

  Result<void> each_chunk(const std::function<Result<void>(std::span<const std::byte>)>& sink) {
    std::unique_ptr<std::byte[]> buf(new std::byte[kChunk]);
    while (true) {
      la_ssize_t n = archive_read_data(a_.get(), buf.get(), kChunk);
      if (n < 0) return archive_error(a_.get(), "reading " + layers::quoted(path_));
      if (n == 0) return {};
      if (auto r = sink(std::span(buf.get(), static_cast<size_t>(n))); !r) return r;
    }
  }

  Result<std::string> read_small(size_t max_bytes, const std::string& name) {
    std::string out;
    auto r = each_chunk([&](std::span<const std::byte> data) -> Result<void> {
      if (out.size() + data.size() > max_bytes)
        return Error(ErrorKind::InvalidInput, layers::quoted(name) + " in the archive is over the limit of " +
                                                  std::to_string(max_bytes) + " bytes");
      out.append(reinterpret_cast<const char*>(data.data()), data.size());
      return {};
    });
    if (!r) return std::move(r).error();
    return out;
  }

 private:
  TarIn(ArchiveReadPtr a, std::string path)
      : a_(std::move(a)), path_(std::move(path)) {}
  ArchiveReadPtr a_;
  std::string path_;
  archive_entry* entry_ = nullptr;
};

// Resolves `target` of a symlink member `from` ("a/layer.tar" -> "../b/layer.tar").
std::string resolve_link(const std::string& from, const std::string& target) {
  std::vector<std::string> parts;
  std::string base = from.substr(0, from.rfind('/') == std::string::npos ? 0 : from.rfind('/'));
  std::string joined = target.starts_with("/") ? target.substr(1) : (base.empty() ? target : base + "/" + target);
  size_t start = 0;
  while (start <= joined.size()) {
    size_t slash = joined.find('/', start);
    std::string part = joined.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

struct StoredLayer {
  Digest digest = Digest::of("");
  int64_t size = 0;
  Digest diff_id = Digest::of("");
  Compression compression = Compression::None;
};

Result<StoredLayer> store_layer(TarIn& tar, const Store& store) {
  auto writer = store.blobs().begin_write();
  if (!writer) return std::move(writer).error();
  Sha256 plain;
  auto decoder = LayerDecoder::create([&](std::span<const std::byte> data) -> Result<void> {
    plain.update(data);
    return {};
  });
  if (!decoder) return std::move(decoder).error();
  auto r = tar.each_chunk([&](std::span<const std::byte> data) -> Result<void> {
    if (auto w = writer->write(data); !w) return w;
    return decoder->write(data);
  });
  if (!r) return std::move(r).error();
  if (auto f = decoder->finish(); !f) return std::move(f).error();
  StoredLayer out;
  out.compression = decoder->compression();
  out.size = static_cast<int64_t>(writer->bytes_written());
  out.diff_id = plain.finish();
  auto digest = writer->commit();
  if (!digest) return std::move(digest).error();
  out.digest = *digest;
  return out;
}

Result<std::vector<LoadedImage>> load_docker(const Store& store, const std::string& path,
                                             const std::string& manifest_text) {
  auto parsed = json::parse(manifest_text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array())
    return Error(ErrorKind::InvalidInput, "manifest.json: want a JSON array");
  if (parsed.size() > kMaxArchiveImages)
    return Error(ErrorKind::InvalidInput, "manifest.json: too many images");
  struct Entry {
    std::string config;
    std::vector<std::string> tags, layers;
  };
  std::vector<Entry> entries;
  std::set<std::string> wanted_configs, wanted_layers;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const json& e = parsed[i];
    std::string where = "manifest.json[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("Config") || !e["Config"].is_string() ||
        !e.contains("Layers") || !e["Layers"].is_array())
      return Error(ErrorKind::InvalidInput, where + ": want {\"Config\": ..., \"Layers\": [...]}");
    Entry entry;
    entry.config = resolve_link("", e["Config"].get<std::string>());
    for (const auto& l : e["Layers"]) {
      if (!l.is_string()) return Error(ErrorKind::InvalidInput, where + ".Layers: want strings");
      entry.layers.push_back(resolve_link("", l.get<std::string>()));
    }
    if (auto t = e.find("RepoTags"); t != e.end() && t->is_array())
      for (const auto& tag : *t)
        if (tag.is_string()) entry.tags.push_back(tag.get<std::string>());
    wanted_configs.insert(entry.config);
    wanted_layers.insert(entry.layers.begin(), entry.layers.end());
    entries.push_back(std::move(entry));
  }

  auto tar = TarIn::open(path);
  if (!tar) return std::move(tar).error();
  std::map<std::string, std::string> configs;
  std::map<std::string, StoredLayer> layers;
  std::map<std::string, std::string> links;
  while (true) {
    auto name = tar->next();
    if (!name) return std::move(name).error();
    if (!*name) break;
    const std::string& n = **name;
    if (tar->is_symlink() && (wanted_layers.count(n) || wanted_configs.count(n))) {
      links[n] = resolve_link(n, tar->symlink_target());
      continue;
    }
    if (!tar->is_file()) continue;
    if (wanted_configs.count(n)) {
      auto text = tar->read_small(kMaxConfigBytes, n);
      if (!text) return std::move(text).error();
      configs[n] = std::move(*text);
    } else if (wanted_layers.count(n)) {
      auto layer = store_layer(*tar, store);
      if (!layer) return std::move(layer).error().context("loading " + layers::quoted(n));
      layers[n] = *layer;
    }
  }
  auto follow = [&](std::string n) {
    for (int hops = 0; hops < 8 && links.count(n); ++hops) n = links[n];
    return n;
  };

  std::vector<LoadedImage> out;
  for (const auto& entry : entries) {
    auto config_it = configs.find(follow(entry.config));
    if (config_it == configs.end())
      return Error(ErrorKind::InvalidInput, "the archive has no " + layers::quoted(entry.config));
    auto config = parse_image_config(config_it->second, layers::quoted(entry.config));
    if (!config) return std::move(config).error();
    if (config->diff_ids.size() != entry.layers.size())
      return Error(ErrorKind::InvalidInput,
                   layers::quoted(entry.config) + " has " + std::to_string(config->diff_ids.size()) +
                       " diff_ids but manifest.json lists " + std::to_string(entry.layers.size()) +
                       " layers");
    Manifest manifest;
    for (size_t i = 0; i < entry.layers.size(); ++i) {
      auto it = layers.find(follow(entry.layers[i]));
      if (it == layers.end())
        return Error(ErrorKind::InvalidInput, "the archive has no " + layers::quoted(entry.layers[i]));
      if (it->second.diff_id != config->diff_ids[i])
        return Error(ErrorKind::Corrupt, layers::quoted(entry.layers[i]) + " is " + it->second.diff_id.str() +
                                             ", but the config says " + config->diff_ids[i].str());
      manifest.layers.push_back({std::string(oci_layer_media_type(it->second.compression)),
                                 it->second.digest, it->second.size});
    }
    // The config is kept byte for byte, so the image id stays what docker says it is.
    auto config_digest = store.blobs().put_bytes(config_it->second);
    if (!config_digest) return std::move(config_digest).error();
    manifest.config = {std::string(media_type::kOciConfig), *config_digest,
                       static_cast<int64_t>(config_it->second.size())};
    std::string manifest_json = manifest.to_json();
    auto manifest_digest = store.blobs().put_bytes(manifest_json);
    if (!manifest_digest) return std::move(manifest_digest).error();
    Descriptor d{std::string(media_type::kOciManifest), *manifest_digest,
                 static_cast<int64_t>(manifest_json.size())};
    d.platform = Platform{config->architecture, config->os, config->variant, "", {}};
    out.push_back({std::move(d), entry.tags});
  }
  return out;
}

Result<std::vector<LoadedImage>> load_oci(const Store& store, const std::string& path,
                                          const std::string& index_text) {
  auto index = parse_index(index_text, "index.json");
  if (!index) return std::move(index).error();
  if (index->manifests.size() > kMaxArchiveImages)
    return Error(ErrorKind::InvalidInput, "index.json: too many images");
  auto tar = TarIn::open(path);
  if (!tar) return std::move(tar).error();
  while (true) {
    auto name = tar->next();
    if (!name) return std::move(name).error();
    if (!*name) break;
    const std::string& n = **name;
    if (!tar->is_file() || !n.starts_with("blobs/sha256/")) continue;
    auto expected = Digest::from_hex(std::string_view(n).substr(13));
    if (!expected) continue;  // not a blob name; ignore, as other readers do
    if (store.blobs().has(*expected)) continue;
    auto writer = store.blobs().begin_write();
    if (!writer) return std::move(writer).error();
    auto r = tar->each_chunk([&](std::span<const std::byte> data) { return writer->write(data); });
    if (!r) return std::move(r).error();
    auto digest = writer->commit(*expected);
    if (!digest) return std::move(digest).error().context("loading " + layers::quoted(n));
  }
  std::vector<LoadedImage> out;
  std::map<Digest, size_t> seen;
  for (const auto& d : index->manifests) {
    if (!is_manifest_type(d.media_type) && !is_index_type(d.media_type))
      return Error(ErrorKind::Unsupported,
                   "index.json: " + d.digest.str() + " has media type " + layers::quoted(d.media_type));
    // Every blob the image needs must have come with it.
    auto image = store.load_image(d);
    if (!image) return std::move(image).error().context("loading " + d.digest.str());
    for (const auto& l : image->manifest.layers)
      if (!store.blobs().has(l.digest))
        return Error(ErrorKind::InvalidInput, "the archive lacks layer " + l.digest.str());
    std::string name;
    if (auto it = d.annotations.find(std::string(annotation::kContainerdImageName));
        it != d.annotations.end())
      name = it->second;
    else
      name = d.ref_name();
    size_t slot;
    if (auto it = seen.find(d.digest); it != seen.end()) {
      slot = it->second;
    } else {
      Descriptor plain = d;
      plain.annotations.clear();
      slot = out.size();
      seen[d.digest] = slot;
      out.push_back({std::move(plain), {}});
    }
    if (!name.empty()) out[slot].names.push_back(name);
  }
  return out;
}

}  // namespace

Result<void> write_image_archive(const Store& store, const std::vector<ArchiveImage>& images,
                                 ArchiveFormat format, int fd) {
  auto tar = TarOut::open(fd);
  if (!tar) return std::move(tar).error();
  auto r = format == ArchiveFormat::Docker ? write_docker(*tar, store, images)
                                           : write_oci(*tar, store, images);
  if (!r) return r;
  return tar->close();
}

Result<void> write_image_archive_file(const Store& store, const std::vector<ArchiveImage>& images,
                                      ArchiveFormat format, const std::string& path) {
  if (struct stat st; ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("opening " + layers::quoted(path));
    if (auto r = write_image_archive(store, images, format, fd.get()); !r)
      return std::move(r).error().context("writing " + layers::quoted(path));
    return {};
  }
  const std::string tmp = path + ".hoist-tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Error::from_errno("creating " + layers::quoted(tmp));
  auto r = write_image_archive(store, images, format, fd.get());
  if (r && ::fsync(fd.get()) != 0) r = Error::from_errno("fsync " + layers::quoted(tmp));
  fd.reset();
  if (r && ::rename(tmp.c_str(), path.c_str()) != 0)
    r = Error::from_errno("renaming " + layers::quoted(tmp) + " to " + layers::quoted(path));
  if (!r) {
    ::unlink(tmp.c_str());
    return std::move(r).error().context("writing " + layers::quoted(path));
  }
  return {};
}

Result<std::vector<LoadedImage>> read_image_archive(const Store& store, const std::string& path) {
  auto tar = TarIn::open(path);
  if (!tar) return std::move(tar).error();
  std::optional<std::string> manifest_json, index_json;
  while (true) {
    auto name = tar->next();
    if (!name) return std::move(name).error();
    if (!*name) break;
    if (!tar->is_file()) continue;
    if (**name == "manifest.json" || **name == "index.json") {
      auto text = tar->read_small(kMaxManifestBytes, **name);
      if (!text) return std::move(text).error();
      (**name == "manifest.json" ? manifest_json : index_json) = std::move(*text);
    }
  }
  auto result = manifest_json ? load_docker(store, path, *manifest_json)
                : index_json  ? load_oci(store, path, *index_json)
                              : Result<std::vector<LoadedImage>>(Error(
                                    ErrorKind::InvalidInput,
                                    "neither manifest.json nor index.json is in the archive"));
  if (!result) return std::move(result).error().context("loading " + layers::quoted(path));
  return result;
}

}  // namespace layers
