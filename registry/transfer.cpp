#include "registry/transfer.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "layers/compressed_layers.h"
#include "layers/parallel_for.h"
#include "layers/unique_fd.h"
#include "layers/unpacked_cache.h"

namespace registry {

using layers::Descriptor;
using layers::Digest;
using layers::Error;
using layers::ErrorKind;
using layers::Result;
using State = TransferObserver::State;

namespace {

// Runs `work` on every item with at most `parallel` threads; a failure stops new items
// from starting (layers/parallel_for.h).
Result<void> for_each_parallel(const std::vector<Descriptor>& items, int parallel,
                               const std::function<Result<void>(const Descriptor&)>& work) {
  return layers::for_each_index(items.size(), parallel, [&](size_t i) { return work(items[i]); });
}

std::vector<Descriptor> blobs_of(const layers::Manifest& manifest) {
  std::vector<Descriptor> out{manifest.config};
  std::set<Digest> seen{manifest.config.digest};
  for (const Descriptor& l : manifest.layers)
    if (seen.insert(l.digest).second) out.push_back(l);
  return out;
}

// Serializes observer calls from worker threads.
class Reporter {
 public:
  explicit Reporter(const TransferObserver& observer) : observer_(observer) {}
  void operator()(const Descriptor& d, State s, uint64_t done, std::string_view mounted_from = {}) {
    if (!observer_.on_blob) return;
    std::lock_guard lock(mu_);
    observer_.on_blob(d, s, done, mounted_from);
  }

 private:
  const TransferObserver& observer_;
  std::mutex mu_;
};

// Refuses, before a byte is downloaded, what the store could not hold: a negative size, a
// config over kMaxConfigBytes, or blobs adding up to more than the store's free space (a
// manifest declaring a petabyte layer fails here, not after filling the disk).
Result<void> check_sizes(const layers::Store& store, const Descriptor& config,
                         const std::vector<Descriptor>& missing, const std::string& where) {
  uint64_t total = 0;
  for (const Descriptor& b : missing) {
    if (b.size < 0)
      return Error(ErrorKind::InvalidInput,
                   "blob " + b.digest.str() + " in " + where + " declares a negative size");
    if (b.digest == config.digest && static_cast<uint64_t>(b.size) > layers::kMaxConfigBytes)
      return Error(ErrorKind::InvalidInput, "image config " + b.digest.str() + " in " + where +
                                                " declares " + std::to_string(b.size) +
                                                " bytes, over the limit of " +
                                                std::to_string(layers::kMaxConfigBytes));
    total += static_cast<uint64_t>(b.size);  // each < 2^63, so a handful cannot wrap
  }
  struct statvfs fs {};
  if (::statvfs(store.root().c_str(), &fs) != 0) return {};  // nothing to compare with
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (total > free_bytes)
    return Error(ErrorKind::InvalidInput,
                 where + " needs " + std::to_string(total) + " bytes of blobs, and " +
                     layers::quoted(store.root()) + " has " + std::to_string(free_bytes) +
                     " bytes free");
  return {};
}

// The image config must be JSON hoist reads, with one diff_id per layer: an image whose
// config and manifest disagree cannot be unpacked or run, so it is refused before its
// layers are fetched and never tagged.
Result<layers::ImageConfig> check_config(const layers::Store& store,
                                         const layers::Manifest& manifest,
                                         const std::string& where) {
  const std::string what = "image config " + manifest.config.digest.str() + " in " + where;
  auto text = store.blobs().read_all(manifest.config.digest, layers::kMaxConfigBytes);
  if (!text) return std::move(text).error().context("reading " + what);
  auto config = layers::parse_image_config(*text);
  if (!config) return std::move(config).error().context(what);
  if (config->diff_ids.size() != manifest.layers.size())
    return Error(ErrorKind::InvalidInput,
                 what + " lists " + std::to_string(config->diff_ids.size()) +
                     " diff_ids, but the manifest has " + std::to_string(manifest.layers.size()) +
                     " layers");
  return config;
}

std::string tag_name(const Reference& reference) {
  if (reference.tag().empty()) return reference.str();
  return reference.repository() + ":" + reference.tag();
}

// A layer unpacked from its bytes as they download (PullOptions::unpack): a thread runs
// the one applier, through UnpackedLayers::get_or_unpack (which names the layer's
// directory only when the stream's sha256 is its diff_id), on a socket the download's tap
// writes into, so downloading and unpacking overlap. It only unpacks early: when anything
// goes wrong (the download starts over or fails, the applier refuses the layer, the
// socket breaks), the tap stops feeding, the scratch directory goes, and the layer is
// unpacked at its first use from the verified blob, which reports the error as it always
// did. A socket rather than a pipe: send(MSG_NOSIGNAL) gets EPIPE, not a signal.
class StreamedUnpack {
 public:
  StreamedUnpack(const layers::Store& store, const Digest& diff_id) : diff_id_(diff_id) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      outcome_ = Error::from_errno("a socket for unpacking layer " + diff_id.str());
      return;
    }
    layers::UniqueFd read_end(fds[0]);
    write_end_.reset(fds[1]);
    const int buffer = 1 << 20;
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    const std::string dir = store.unpacked_dir();
    thread_ = std::thread([this, dir, read_end = std::move(read_end)]() mutable {
      auto unpacked = layers::UnpackedLayers::open(dir);
      Result<std::string> r = unpacked ? unpacked->get_or_unpack(diff_id_, [&]() -> Result<layers::UniqueFd> {
        return std::move(read_end);
      }) : Result<std::string>(std::move(unpacked).error());
      read_end.reset();  // when get_or_unpack did not take it (unpacked meanwhile)
      if (!r) outcome_ = std::move(r).error();
    });
  }
  StreamedUnpack(const StreamedUnpack&) = delete;
  StreamedUnpack& operator=(const StreamedUnpack&) = delete;
  ~StreamedUnpack() { finish(); }

  // The download's tap: bytes at `offset`, in order while the download goes on.
  void feed(uint64_t offset, std::string_view bytes) {
    if (!write_end_) return;
    if (offset != fed_) return stop();  // started over: this unpack cannot follow
    while (!bytes.empty()) {
      ssize_t n = ::send(write_end_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return stop();  // the applier stopped reading
      bytes.remove_prefix(size_t(n));
      fed_ += uint64_t(n);
    }
  }

  // Ends the stream (after the download, whole or not) and waits for the applier: nullopt
  // when the layer's directory is named, else why it is not (unpacked at first use).
  std::optional<Error> finish() {
    write_end_.reset();
    if (thread_.joinable()) thread_.join();
    return outcome_;
  }

 private:
  void stop() { write_end_.reset(); }

  Digest diff_id_;
  layers::UniqueFd write_end_;
  uint64_t fed_ = 0;
  std::optional<Error> outcome_;
  std::thread thread_;  // last: started once the members it uses are made
};

}  // namespace

Result<Descriptor> choose_platform(const layers::Index& index, const layers::Platform& want) {
  std::string offered;
  for (const Descriptor& d : index.manifests) {
    if (!d.platform) continue;
    const layers::Platform& p = *d.platform;
    if (p.os == "unknown") continue;  // attestation manifests
    offered += (offered.empty() ? "" : ", ") + p.str();
    if (p.os != want.os || p.architecture != want.architecture) continue;
    if (!want.variant.empty() && p.variant != want.variant &&
        !(want.architecture == "arm64" && want.variant == "v8" && p.variant.empty()))
      continue;
    if (!layers::is_manifest_type(d.media_type)) continue;
    return d;
  }
  return Error(ErrorKind::NotFound,
               "no image for " + want.str() + " (the index offers: " +
                   (offered.empty() ? std::string("nothing usable") : offered) + ")");
}

Result<PullResult> pull(Client& client, layers::Store& store, const Reference& reference,
                        const PullOptions& options) {
  const std::string& path = reference.path();
  const std::string wanted = reference.digest() ? reference.digest()->str() : reference.tag();
  auto top = client.get_manifest(path, wanted);
  if (!top) return std::move(top).error();

  PullResult result;
  result.name = tag_name(reference);
  result.digest = top->digest;
  FetchedManifest chosen = *top;
  if (layers::is_index_type(top->media_type)) {
    auto index = layers::parse_index(top->bytes, "index " + reference.familiar());
    if (!index) return std::move(index).error();
    const layers::Platform platform = options.platform.value_or(layers::Platform::host());
    auto pick = choose_platform(*index, platform);
    if (!pick) return std::move(pick).error().context("pulling " + reference.familiar());
    if (pick->size < 0 || static_cast<uint64_t>(pick->size) > layers::kMaxManifestBytes)
      return Error(ErrorKind::InvalidInput,
                   "index " + reference.familiar() + " declares manifest " + pick->digest.str() +
                       " of " + std::to_string(pick->size) + " bytes, over the limit of " +
                       std::to_string(layers::kMaxManifestBytes));
    auto child = client.get_manifest(path, pick->digest.str());
    if (!child)
      return std::move(child).error().context("index " + reference.familiar() +
                                              " points at manifest " + pick->digest.str());
    chosen = std::move(*child);
    if (chosen.bytes.size() != static_cast<uint64_t>(pick->size))
      return Error(ErrorKind::Corrupt, "index " + reference.familiar() + " declares manifest " +
                                           pick->digest.str() + " of " +
                                           std::to_string(pick->size) + " bytes; " +
                                           client.registry() + " served " +
                                           std::to_string(chosen.bytes.size()));
    if (!layers::is_manifest_type(chosen.media_type))
      return Error(ErrorKind::InvalidInput, "index " + reference.familiar() + " points at " +
                                                chosen.digest.str() +
                                                ", which is not an image manifest");
  } else if (!layers::is_manifest_type(top->media_type)) {
    return Error(ErrorKind::Unsupported, reference.familiar() + " is of media type \"" +
                                             top->media_type.substr(0, 100) + "\", not an image");
  }
  auto manifest = layers::parse_manifest(chosen.bytes, "manifest " + chosen.digest.str());
  if (!manifest) return std::move(manifest).error();

  auto gc_lock = store.gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error().context("pulling " + reference.familiar());

  const std::vector<Descriptor> blobs = blobs_of(*manifest);
  std::vector<Descriptor> missing;
  Reporter report(options.observer);
  for (const Descriptor& b : blobs) {
    if (store.blobs().has(b.digest)) {
      report(b, State::Skipped, static_cast<uint64_t>(b.size));
    } else {
      missing.push_back(b);
      report(b, State::Waiting, 0);
    }
  }
  result.was_up_to_date = missing.empty() && store.blobs().has(chosen.digest);
  const std::string where =
      "manifest " + chosen.digest.str() + " from " + client.registry() + "/" + path;
  if (auto r = check_sizes(store, manifest->config, missing, where); !r)
    return std::move(r).error().context("pulling " + reference.familiar());
  // The config first, alone: it is small, and a config that contradicts the manifest
  // stops the pull before any layer is downloaded.
  if (!missing.empty() && missing.front().digest == manifest->config.digest) {
    const Descriptor& c = missing.front();
    report(c, State::Running, 0);
    if (auto r = client.fetch_blob(path, c, store.blobs()); !r)
      return std::move(r).error().context("pulling " + reference.familiar());
    report(c, State::Done, static_cast<uint64_t>(c.size));
    missing.erase(missing.begin());
  }
  auto image_config = check_config(store, *manifest, where);
  if (!image_config) return std::move(image_config).error().context("pulling " + reference.familiar());
  // With options.unpack, each layer's diff_id (check_config: one per layer).
  std::map<Digest, Digest> diff_id_of;
  if (options.unpack)
    for (size_t i = 0; i < manifest->layers.size(); ++i)
      if (!layers::is_nondistributable_layer(manifest->layers[i].media_type))
        diff_id_of.emplace(manifest->layers[i].digest, image_config->diff_ids[i]);
  auto fetched =
      for_each_parallel(missing, options.parallel, [&](const Descriptor& b) -> Result<void> {
        report(b, State::Running, 0);
        const ProgressFn progress = [&](uint64_t done) { report(b, State::Running, done); };
        std::optional<StreamedUnpack> unpack;
        if (auto it = diff_id_of.find(b.digest);
            it != diff_id_of.end() && ::access(store.unpacked_path(it->second).c_str(), F_OK) != 0)
          unpack.emplace(store, it->second);
        const BlobTap tap = [&](uint64_t offset, std::string_view bytes) {
          if (unpack) unpack->feed(offset, bytes);
        };
        auto r = client.fetch_blob(path, b, store.blobs(), progress, tap);
        if (unpack) {
          if (auto why = unpack->finish())
            client.log("layer " + b.digest.str() + " was not unpacked as it downloaded (it will be at its first use): " +
                       why->describe());
          else
            client.log("unpacked layer " + b.digest.str() + " as it downloaded");
        }
        // A foreign layer the registry does not hold comes from its URLs, as Docker does.
        if (!r && r.error().kind() == ErrorKind::NotFound &&
            layers::is_nondistributable_layer(b.media_type) && !b.urls.empty())
          r = client.fetch_foreign_blob(b, store.blobs(), progress);
        if (!r) return r;
        report(b, State::Done, static_cast<uint64_t>(b.size));
        return {};
      });
  if (!fetched) return std::move(fetched).error().context("pulling " + reference.familiar());

  auto stored = store.blobs().put_bytes(chosen.bytes);
  if (!stored)
    return std::move(stored).error().context("storing manifest of " + reference.familiar());
  Descriptor image;
  image.media_type = chosen.media_type;
  image.digest = chosen.digest;
  image.size = static_cast<int64_t>(chosen.bytes.size());
  if (!image_config->os.empty())
    image.platform = layers::Platform{image_config->architecture, image_config->os,
                                      image_config->variant, {}, {}};
  if (auto r = store.set_tag(result.name, image); !r)
    return std::move(r).error().context("tagging " + result.name);
  if (auto r = store.add_repo_digest(image.digest, reference.repository() + "@" + result.digest.str()); !r)
    return std::move(r).error().context("recording the digest of " + result.name);
  result.image = image;
  return result;
}

namespace {

// Repositories of the same registry that local tags say hold `digest`, for mounts.
std::map<Digest, std::string> mount_sources(const layers::Store& store, const Reference& target) {
  std::map<Digest, std::string> out;
  auto entries = store.list();
  if (!entries) return out;
  for (const auto& entry : *entries) {
    auto ref = Reference::parse(entry.name);
    if (!ref || ref->domain() != target.domain() || ref->path() == target.path()) continue;
    if (!layers::is_manifest_type(entry.descriptor.media_type)) continue;
    auto text = store.blobs().read_all(entry.descriptor.digest, layers::kMaxManifestBytes);
    if (!text) continue;
    auto m = layers::parse_manifest(*text);
    if (!m) continue;
    out.emplace(m->config.digest, ref->path());
    for (const Descriptor& l : m->layers) out.emplace(l.digest, ref->path());
  }
  return out;
}

// The stored blob `b` as it is sent: HEADed and skipped when present, mounted when a
// source is known, else uploaded from the store. `shown` is what progress names.
Result<void> push_blob(Client& client, const layers::Store& store, const Reference& reference,
                       const Descriptor& b, const Descriptor& shown,
                       const std::map<Digest, std::string>& sources, Reporter& report) {
  const std::string& path = reference.path();
  auto present = client.head_blob(path, b.digest, /*for_push=*/true);
  if (!present) return std::move(present).error();
  if (*present) {
    report(shown, State::Skipped, static_cast<uint64_t>(shown.size));
    return {};
  }
  if (auto from = sources.find(b.digest); from != sources.end()) {
    auto mounted = client.mount_blob(path, b.digest, from->second);
    if (!mounted) return std::move(mounted).error();
    if (*mounted) {
      report(shown, State::Mounted, static_cast<uint64_t>(shown.size), from->second);
      return {};
    }
  }
  auto fd = store.blobs().open_read(b.digest);
  if (!fd) return std::move(fd).error().context("pushing " + reference.familiar());
  auto size = store.blobs().size(b.digest);
  if (!size) return std::move(size).error();
  if (static_cast<int64_t>(*size) != b.size)
    return Error(ErrorKind::Corrupt,
                 "blob " + b.digest.str() + " in the store has " + std::to_string(*size) +
                     " bytes, its descriptor says " + std::to_string(b.size));
  report(shown, State::Running, 0);
  // Progress in the shown blob's bytes (a compressed layer is shown as the layer).
  const double scale = b.size > 0 ? static_cast<double>(shown.size) / static_cast<double>(b.size) : 1.0;
  auto r = client.upload_blob(path, b.digest, b.size, fd->get(), [&](uint64_t done) {
    report(shown, State::Running, static_cast<uint64_t>(static_cast<double>(done) * scale));
  });
  if (!r) return r;
  report(shown, State::Done, static_cast<uint64_t>(shown.size));
  return {};
}

// A layer the store keeps uncompressed, sent compressed with `c`. The first time, the
// compressor writes the blob into the store while the upload follows it on the file
// (Client::upload_growing), so the push takes about as long as the slower of the two, not
// their sum; when that upload fails, the finished blob goes up again with upload_blob's
// retries. A layer compressed before is pushed as any stored blob.
Result<void> push_compressed_layer(Client& client, const layers::Store& store, const Reference& reference,
                                   const Descriptor& layer, layers::Compression c,
                                   const std::map<Digest, std::string>& sources, Reporter& report) {
  struct Shared {
    std::mutex mu;
    std::condition_variable changed;
    layers::UniqueFd reader;
    bool begun = false;
    uint64_t written = 0;
    std::optional<Result<Descriptor>> result;  // set when the compressor ends
  } shared;
  layers::CompressionWatch watch;
  watch.on_begin = [&](layers::UniqueFd reader) {
    std::lock_guard lock(shared.mu);
    shared.reader = std::move(reader);
    shared.begun = true;
    shared.changed.notify_all();
  };
  watch.on_progress = [&](uint64_t read, uint64_t written) {
    bool is_more;
    {
      std::lock_guard lock(shared.mu);
      is_more = written > shared.written;
      shared.written = written;
    }
    // The file grows a piece at a time (a MiB past the page cache), the compressor writes
    // in smaller steps: the upload is woken only when there is more on the file to send.
    if (is_more) shared.changed.notify_all();
    report(layer, State::Running, read);
  };
  std::thread compressor([&] {
    auto r = layers::compressed_layer(store, layer, c, watch);
    std::lock_guard lock(shared.mu);
    shared.result = std::move(r);
    shared.changed.notify_all();
  });
  bool streamed = false;
  Result<void> upload;
  {
    std::unique_lock lock(shared.mu);
    shared.changed.wait(lock, [&] { return shared.begun || shared.result; });
    streamed = shared.begun;
  }
  if (streamed) {
    report(layer, State::Running, 0);
    GrowingBlob blob;
    blob.fd = shared.reader.get();
    blob.wait = [&](uint64_t bytes) -> Result<GrowingBlob::Written> {
      std::unique_lock lock(shared.mu);
      shared.changed.wait(lock, [&] { return shared.result || shared.written >= bytes; });
      if (!shared.result) return GrowingBlob::Written{shared.written, std::nullopt};
      if (!*shared.result) return shared.result->error();
      return GrowingBlob::Written{static_cast<uint64_t>((*shared.result)->size), (*shared.result)->digest};
    };
    upload = client.upload_growing(reference.path(), blob);
  }
  compressor.join();
  if (!*shared.result) return shared.result->error().context("compressing layer " + layer.digest.str());
  const Descriptor& sent = **shared.result;
  if (streamed && upload) {
    report(layer, State::Done, static_cast<uint64_t>(layer.size));
    return {};
  }
  if (streamed) client.log("uploading " + sent.digest.str() + " again after: " + upload.error().describe());
  return push_blob(client, store, reference, sent, layer, sources, report);
}

Result<void> push_blobs(Client& client, const layers::Store& store, const Reference& reference,
                        const layers::Manifest& manifest, const PushOptions& options,
                        const std::map<Digest, std::string>& sources, Reporter& report) {
  return for_each_parallel(
      blobs_of(manifest), options.parallel, [&](const Descriptor& b) -> Result<void> {
        // Foreign / non-distributable layers stay where their URLs say, as with Docker.
        if (layers::is_nondistributable_layer(b.media_type)) {
          report(b, State::Skipped, static_cast<uint64_t>(b.size));
          return {};
        }
        if (b.digest != manifest.config.digest && layers::is_stored_uncompressed(b) &&
            options.compression != layers::Compression::None)
          return push_compressed_layer(client, store, reference, b, options.compression, sources, report);
        return push_blob(client, store, reference, b, b, sources, report);
      });
}

}  // namespace

Result<Digest> push(Client& client, const layers::Store& store, const Reference& reference,
                    const Descriptor& image, const PushOptions& options) {
  const std::string& path = reference.path();
  const std::string target = reference.tag().empty() ? image.digest.str() : reference.tag();
  auto top = store.blobs().read_all(image.digest, layers::kMaxManifestBytes);
  if (!top) return std::move(top).error().context("pushing " + reference.familiar());
  auto sources = mount_sources(store, reference);
  sources.insert(options.mount_from.begin(), options.mount_from.end());
  Reporter report(options.observer);

  if (layers::is_index_type(image.media_type)) {
    auto index = layers::parse_index(*top, "index " + image.digest.str());
    if (!index) return std::move(index).error();
    for (const Descriptor& child : index->manifests) {
      if (!layers::is_manifest_type(child.media_type))
        return Error(ErrorKind::Unsupported,
                     "pushing " + reference.familiar() + ": nested index " + child.digest.str());
      auto text = store.blobs().read_all(child.digest, layers::kMaxManifestBytes);
      if (!text) return std::move(text).error().context("pushing " + reference.familiar());
      auto m = layers::parse_manifest(*text, "manifest " + child.digest.str());
      if (!m) return std::move(m).error();
      // An index's manifests go as they are stored: their digests are what it lists.
      PushOptions as_stored = options;
      as_stored.compression = layers::Compression::None;
      if (auto r = push_blobs(client, store, reference, *m, as_stored, sources, report); !r)
        return std::move(r).error();
      auto pushed = client.put_manifest(path, child.digest.str(), *text, child.media_type);
      if (!pushed) return std::move(pushed).error();
    }
  } else {
    auto m = layers::parse_manifest(*top, "manifest " + image.digest.str());
    if (!m) return std::move(m).error();
    if (auto r = push_blobs(client, store, reference, *m, options, sources, report); !r)
      return std::move(r).error();
    // The manifest listing the layers compressed (each one remembered by now, so this
    // compresses nothing): stored, and sent instead of the stored image's.
    auto sent = layers::compressed_image(store, image, options.compression);
    if (!sent) return std::move(sent).error().context("pushing " + reference.familiar());
    if (sent->digest != image.digest) {
      auto text = store.blobs().read_all(sent->digest, layers::kMaxManifestBytes);
      if (!text) return std::move(text).error().context("pushing " + reference.familiar());
      return client.put_manifest(path, target, *text, sent->media_type);
    }
  }
  return client.put_manifest(path, target, *top, image.media_type);
}

}  // namespace registry
