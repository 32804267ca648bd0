#include "builder/shared_cache.h"

#include <unistd.h>

#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "builder/build.h"
#include "builder/outputs.h"
#include "layers/compressed_layers.h"
#include "layers/json_text.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "registry/transfer.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// The config of a cache with thousands of steps stays far below this.
constexpr size_t kMaxCacheConfigBytes = layers::kMaxConfigBytes;

std::string describe(const CacheSpec& spec) {
  return spec.type == CacheSpec::Type::Local ? "type=local " + layers::quoted(spec.location)
                                             : "type=registry " + spec.location;
}

Result<std::shared_ptr<registry::Client>> client_for(const registry::Reference& reference, const BuildOptions& options) {
  auto client_options =
      registry::client_options({options.insecure_registries, "", options.debug}, reference.domain());
  if (!client_options) return std::move(client_options).error();
  return std::make_shared<registry::Client>(reference.domain(), std::move(*client_options));
}

// A cache manifest's bytes and config, verified against their digests by whoever read them.
struct ReadManifest {
  layers::Manifest manifest;
  std::string config_text;
};

// The records of a cache manifest, each layer among the manifest's.
Result<std::map<layers::Digest, CacheRecord>> parse_records(const layers::Manifest& manifest,
                                                           std::string_view config_text) {
  auto j = layers::parse_json(config_text, kMaxCacheConfigBytes, "cache config");
  if (!j) return std::move(j).error();
  auto records = j->find("records");
  if (!j->is_object() || records == j->end() || !records->is_object())
    return Error(ErrorKind::InvalidInput, "cache config: want an object with \"records\"");
  std::set<layers::Digest> listed;
  for (const auto& l : manifest.layers) listed.insert(l.digest);
  std::map<layers::Digest, CacheRecord> out;
  for (const auto& [key_text, record_json] : records->items()) {
    auto key = layers::Digest::parse(key_text);
    auto record = record_from_json(record_json);
    if (!key || !record) return Error(ErrorKind::InvalidInput, "cache config: malformed record " + layers::quoted(key_text));
    if (record->layer && !listed.count(record->layer->digest))
      return Error(ErrorKind::InvalidInput, "cache config: record " + key_text + " names layer " +
                                                record->layer->digest.str() + ", which the manifest does not list");
    out.emplace(*key, std::move(*record));
  }
  return out;
}

Result<layers::Manifest> parse_cache_manifest(std::string_view text) {
  auto manifest = layers::parse_manifest(text, "cache manifest");
  if (!manifest) return std::move(manifest).error();
  if (manifest->config.media_type != kCacheConfigType)
    return Error(ErrorKind::InvalidInput, "not a hoist build cache: its config is " +
                                              layers::quoted(manifest->config.media_type) + ", not " +
                                              std::string(kCacheConfigType));
  if (manifest->config.size < 0 || static_cast<uint64_t>(manifest->config.size) > kMaxCacheConfigBytes)
    return Error(ErrorKind::InvalidInput, "cache config " + manifest->config.digest.str() + " declares " +
                                              std::to_string(manifest->config.size) + " bytes");
  return manifest;
}

// type=local,src=DIR: the manifest tagged "latest" in DIR's index.json. Layers are copied
// from DIR's blobs when needed.
Result<std::pair<ReadManifest, std::shared_ptr<const LayerFetcher>>> read_local(const std::string& dir,
                                                                               const layers::Store& store) {
  if (::access((dir + "/index.json").c_str(), F_OK) != 0)
    return Error::from_errno("reading " + layers::quoted(dir + "/index.json"));
  auto source = layers::Store::open(dir);
  if (!source) return std::move(source).error();
  auto descriptor = source->find_tag(kLocalCacheTag);
  if (!descriptor) return std::move(descriptor).error();
  auto text = source->blobs().read_all(descriptor->digest, layers::kMaxManifestBytes);
  if (!text) return std::move(text).error();
  auto manifest = parse_cache_manifest(*text);
  if (!manifest) return std::move(manifest).error();
  auto config = source->blobs().read_all(manifest->config.digest, kMaxCacheConfigBytes);
  if (!config) return std::move(config).error();
  // A directory is cheap to check whole: a damaged blob fails the import here, where the
  // build can go on without it, not when the step that needs it comes.
  for (const auto& layer : manifest->layers)
    if (auto r = source->blobs().verify(layer.digest); !r) return std::move(r).error();
  auto fetch = std::make_shared<const LayerFetcher>(
      [from = source->blobs(), into = store.blobs()](const layers::Descriptor& layer) -> Result<void> {
        auto size = from.size(layer.digest);
        if (!size) return std::move(size).error();
        if (static_cast<int64_t>(*size) != layer.size)
          return Error(ErrorKind::Corrupt, "blob " + layer.digest.str() + " in " + layers::quoted(from.root()) + " has " +
                                               std::to_string(*size) + " bytes, its descriptor says " +
                                               std::to_string(layer.size));
        return into.copy_from(from, layer.digest);
      });
  return std::pair{ReadManifest{std::move(*manifest), std::move(*config)}, fetch};
}

// type=registry,ref=REF: the manifest REF names. Layers are fetched with the same client.
Result<std::pair<ReadManifest, std::shared_ptr<const LayerFetcher>>> read_registry(const std::string& ref,
                                                                                  const BuildOptions& options,
                                                                                  const layers::Store& store) {
  auto reference = registry::Reference::parse(ref);
  if (!reference) return std::move(reference).error();
  auto client = client_for(*reference, options);
  if (!client) return std::move(client).error();
  const std::string path = reference->path();
  auto fetched = (*client)->get_manifest(path, reference->digest() ? reference->digest()->str() : reference->tag());
  if (!fetched) return std::move(fetched).error();
  auto manifest = parse_cache_manifest(fetched->bytes);
  if (!manifest) return std::move(manifest).error();
  if (auto r = (*client)->fetch_blob(path, manifest->config, store.blobs()); !r) return std::move(r).error();
  auto config = store.blobs().read_all(manifest->config.digest, kMaxCacheConfigBytes);
  if (!config) return std::move(config).error();
  auto fetch = std::make_shared<const LayerFetcher>(
      [client = *client, path, into = store.blobs()](const layers::Descriptor& layer) {
        return client->fetch_blob(path, layer, into);
      });
  return std::pair{ReadManifest{std::move(*manifest), std::move(*config)}, fetch};
}

}  // namespace

Result<CacheSpec> parse_cache_spec(std::string_view text, bool to) {
  const std::string flag = to ? "--cache-to" : "--cache-from";
  auto usage = [&](const std::string& why) { return Error(ErrorKind::Usage, flag + " " + layers::quoted(text) + ": " + why); };
  CacheSpec spec;
  if (text.find('=') == std::string_view::npos) {  // buildx: a bare REF
    spec.location = std::string(text);
  } else {
    std::optional<std::string> type, dest, src, ref, mode;
    auto pairs = split_key_values(flag, text);
    if (!pairs) return std::move(pairs).error();
    for (auto& [key, value] : *pairs) {
      std::optional<std::string>* slot = key == "type" ? &type
                                         : key == "ref" ? &ref
                                         : key == "dest" && to ? &dest
                                         : key == "src" && !to ? &src
                                         : key == "mode" && to ? &mode
                                                               : nullptr;
      if (!slot) return usage("key " + layers::quoted(key) + " is not supported by hoist");
      if (*slot) return usage("key " + layers::quoted(key) + " given twice");
      *slot = std::move(value);
    }
    if (!type) return usage("missing type=");
    if (*type == "local") {
      spec.type = CacheSpec::Type::Local;
      if (ref) return usage("key \"ref\" is for type=registry");
      spec.location = to ? dest.value_or("") : src.value_or("");
      if (spec.location.empty()) return usage(to ? "missing dest=DIR" : "missing src=DIR");
    } else if (*type == "registry") {
      if (dest || src) return usage(std::string("key ") + (dest ? "\"dest\"" : "\"src\"") + " is for type=local");
      if (!ref || ref->empty()) return usage("missing ref=REF");
      spec.location = *ref;
    } else {
      return usage("cache type " + layers::quoted(*type) + " is not supported by hoist (only local and registry)");
    }
    if (mode && *mode != "min" && *mode != "max") return usage("mode " + layers::quoted(*mode) + ": want min or max");
    spec.max = mode == "max";
  }
  if (spec.type == CacheSpec::Type::Registry)
    if (auto r = registry::Reference::parse(spec.location); !r) return usage(r.error().message());
  return spec;
}

CacheMounts import_shared_caches(const std::vector<CacheSpec>& from, const BuildOptions& options,
                                 const layers::Store& store, BuildCache& cache, Progress& progress) {
  CacheMounts mounts;
  for (const CacheSpec& spec : from) {
    auto read = spec.type == CacheSpec::Type::Local ? read_local(spec.location, store)
                                                    : read_registry(spec.location, options, store);
    auto records = read ? parse_records(read->first.manifest, read->first.config_text)
                        : Result<std::map<layers::Digest, CacheRecord>>(read.error());
    if (!records) {
      progress.note("warning: --cache-from " + describe(spec) + ": not imported: " + records.error().describe());
      continue;
    }
    for (const auto& [key, record] : *records) cache.add_imported(key, record, read->second);
    if (spec.type == CacheSpec::Type::Registry)
      if (auto reference = registry::Reference::parse(spec.location))
        for (const auto& layer : read->first.manifest.layers)
          mounts[reference->domain()].emplace(layer.digest, reference->path());
    progress.note("importing cache from " + describe(spec) + ": " + std::to_string(records->size()) + " records");
  }
  return mounts;
}

Result<void> export_shared_cache(const CacheSpec& to, const std::map<layers::Digest, CacheRecord>& records,
                                 const BuildOptions& options, const layers::Store& store, const BuildCache& cache,
                                 Progress& progress) {
  std::vector<layers::Descriptor> stored;
  for (const auto& [key, record] : records)
    if (record.layer) stored.push_back(*record.layer);
  if (auto r = cache.ensure_blobs(stored); !r) return r;
  // The cache leaves the machine with its layers compressed, as an image does
  // (layers/compressed_layers.h); the records keep their diff_ids.
  nlohmann::json by_key = nlohmann::json::object();
  layers::Manifest manifest;
  std::set<layers::Digest> listed;
  for (auto [key, record] : records) {
    if (record.layer) {
      auto packed = layers::compressed_layer(store, *record.layer, options.compression);
      if (!packed) return std::move(packed).error();
      record.layer = *packed;
    }
    by_key[key.str()] = record_to_json(record);
    if (record.layer && listed.insert(record.layer->digest).second) manifest.layers.push_back(*record.layer);
  }
  const std::string config_text = layers::dump_json({{"records", by_key}});
  auto config = store.blobs().put_bytes(config_text);
  if (!config) return std::move(config).error();
  manifest.config = {std::string(kCacheConfigType), *config, static_cast<int64_t>(config_text.size())};
  const std::string manifest_text = manifest.to_json();
  auto digest = store.blobs().put_bytes(manifest_text);
  if (!digest) return std::move(digest).error();
  const layers::Descriptor descriptor{manifest.media_type, *digest, static_cast<int64_t>(manifest_text.size())};

  if (to.type == CacheSpec::Type::Local) {
    if (auto r = write_layout_dir(store, descriptor, {std::string(kLocalCacheTag)}, to.location); !r) return r;
    // The previous export's blobs that the new manifest no longer lists.
    auto dir = layers::Store::open(to.location);
    if (!dir) return std::move(dir).error();
    if (auto r = dir->gc(); !r) return std::move(r).error().context("removing old blobs");
  } else {
    auto reference = registry::Reference::parse(to.location);
    if (!reference) return std::move(reference).error();
    auto client = client_for(*reference, options);
    if (!client) return std::move(client).error();
    auto pushed = registry::push(**client, store, *reference, descriptor);
    if (!pushed) return std::move(pushed).error();
  }
  progress.note("exported cache to " + describe(to) + ": " + std::to_string(records.size()) + " records, " +
                std::to_string(manifest.layers.size()) + " layers (" + digest->str() + ")");
  return {};
}

}  // namespace builder
