#pragma once
// The build cache: what a step produced, found again by the step's key.
//
// A key is a sha256 chained from the parent step's key, the instruction after expansion,
// the build args it sees, and the content digests of the files it reads (see
// CacheKeyBuilder). A record says when the step first ran (its history time, so a fully
// cached rebuild gives the same image id) and the layer it made, if any. Records live in
// the store's cache dir as <key hex>.json, each written atomically; a record whose layer
// blob has gone (pruned) is a miss. Records are never trusted for more than a hint: they
// are parsed strictly, and a malformed one is a miss.
//
// Records imported from a shared cache (--cache-from, builder/shared_cache.h) sit in a
// second layer that lookup() consults when the store has no record; their layer blobs are
// fetched (and verified) only when ensure_blobs() is asked for them.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "layers/blob_store.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"

namespace builder {

// Builds a key from fields; each field is length-prefixed, so ("ab","c") != ("a","bc").
class CacheKeyBuilder {
 public:
  CacheKeyBuilder& add(std::string_view field);
  layers::Digest finish() { return hash_.finish(); }

 private:
  layers::Sha256 hash_;
};

struct CacheRecord {
  std::string created;                      // RFC 3339 history time
  std::optional<layers::Descriptor> layer;  // none for a step that made no layer
  std::optional<layers::Digest> diff_id;
};

// A record as JSON: {"created": T, "layer": DESCRIPTOR|null[, "diff_id": D]}, the form of
// the store's record files and of the shared cache's config.
nlohmann::json record_to_json(const CacheRecord& record);
// nullopt when `j` is not such an object.
std::optional<CacheRecord> record_from_json(const nlohmann::json& j);

// Puts a layer blob of an imported cache into the store, verifying its digest.
using LayerFetcher = std::function<layers::Result<void>(const layers::Descriptor& layer)>;

// What the last download of an ADD URL gave: the server's ETag (sent back as
// If-None-Match, so an unchanged file is not downloaded again), the content digest and
// the Last-Modified time. BuildKit keeps the same three per URL.
struct UrlRecord {
  std::string etag;
  layers::Digest digest = layers::Digest::of("");
  std::optional<int64_t> mtime;  // seconds since 1970
};

class BuildCache {
 public:
  // `dir` is Store::cache_dir(); created when missing on the first save.
  BuildCache(std::string dir, const layers::BlobStore& blobs) : dir_(std::move(dir)), blobs_(blobs) {}

  // The record for `key`, or nullopt (missing, malformed, or its layer blob is gone);
  // when the store has none, the imported record for `key`, whose blob may be elsewhere.
  std::optional<CacheRecord> lookup(const layers::Digest& key) const;
  layers::Result<void> save(const layers::Digest& key, const CacheRecord& record) const;

  // The record of `url`'s last download (url-<sha256 of the URL>.json), or nullopt
  // (missing or malformed).
  std::optional<UrlRecord> lookup_url(std::string_view url) const;
  layers::Result<void> save_url(std::string_view url, const UrlRecord& record) const;

  // Adds a record of an imported cache; `fetch` brings its layer when ensure_blobs needs
  // it. The first import of a key wins.
  void add_imported(const layers::Digest& key, const CacheRecord& record, std::shared_ptr<const LayerFetcher> fetch);
  // Fetches the blobs of `layers` the store lacks from the imported caches that listed
  // them, and checks each one's content against the record's diff_id (Corrupt, and the
  // blob removed, when it differs). NotFound naming the blob when no imported cache has it.
  // Stages running at once fetch one at a time (a fetcher's registry client serves one
  // request at a time).
  layers::Result<void> ensure_blobs(const std::vector<layers::Descriptor>& layers) const;

  // For `hoist prune`, after gc: removes from `dir` the records that can only miss (their
  // layer blob is gone from `blobs`, or they do not parse), each with its --explain inputs
  // (<key hex>.inputs.json, builder/explain.h; a 20,000-file COPY's take 2 MB, and every
  // miss writes one). Other files are left alone, inputs of steps that keep no record (FROM)
  // too. Returns how many files it removed.
  static layers::Result<size_t> prune(const std::string& dir, const layers::BlobStore& blobs);

 private:
  std::string dir_;
  const layers::BlobStore& blobs_;
  std::map<layers::Digest, CacheRecord> imported_;
  struct ImportedLayer {
    std::shared_ptr<const LayerFetcher> fetch;
    layers::Digest diff_id;
  };
  std::map<layers::Digest, ImportedLayer> fetchers_;  // by layer digest
  mutable std::mutex fetch_mutex_;                    // ensure_blobs
};

}  // namespace builder
