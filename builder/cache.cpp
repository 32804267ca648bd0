#include "builder/cache.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/compress.h"
#include "layers/json_text.h"

namespace builder {

using layers::Result;

namespace {
constexpr size_t kMaxRecordBytes = 64 << 10;
}

CacheKeyBuilder& CacheKeyBuilder::add(std::string_view field) {
  hash_.update(std::to_string(field.size()) + ":");
  hash_.update(field);
  return *this;
}

nlohmann::json record_to_json(const CacheRecord& record) {
  nlohmann::json j = {{"created", record.created}, {"layer", nullptr}};
  if (record.layer && record.diff_id) {
    j["layer"] = layers::descriptor_to_json(*record.layer);
    j["diff_id"] = record.diff_id->str();
  }
  return j;
}

std::optional<CacheRecord> record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  CacheRecord record;
  auto created = j.find("created");
  if (created == j.end() || !created->is_string()) return std::nullopt;
  record.created = created->get<std::string>();
  if (auto layer = j.find("layer"); layer != j.end() && !layer->is_null()) {
    auto descriptor = layers::descriptor_from_json(*layer, "cache record");
    if (!descriptor) return std::nullopt;
    auto diff_id = j.find("diff_id");
    if (diff_id == j.end() || !diff_id->is_string()) return std::nullopt;
    auto parsed = layers::Digest::parse(diff_id->get<std::string>());
    if (!parsed) return std::nullopt;
    record.layer = *descriptor;
    record.diff_id = *parsed;
  }
  return record;
}

namespace {

// The record in the file `path`, when it parses and its layer blob (if any) is in `blobs`:
// else a miss, for lookup, and dead weight, for prune.
std::optional<CacheRecord> live_record(const std::string& path, const layers::BlobStore& blobs) {
  auto text = layers::read_file(path, kMaxRecordBytes);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  auto record = j.is_discarded() ? std::nullopt : record_from_json(j);
  if (record && (!record->layer || blobs.has(record->layer->digest))) return record;
  return std::nullopt;
}

}  // namespace

std::optional<CacheRecord> BuildCache::lookup(const layers::Digest& key) const {
  if (auto record = live_record(dir_ + "/" + std::string(key.hex()) + ".json", blobs_)) return record;
  if (auto it = imported_.find(key); it != imported_.end()) return it->second;
  return std::nullopt;
}

Result<size_t> BuildCache::prune(const std::string& dir, const layers::BlobStore& blobs) {
  // A record's name: "<64 hex digits>.json".
  auto key_of = [](std::string_view name) -> std::optional<std::string> {
    if (name.size() != 64 + 5 || !name.ends_with(".json")) return std::nullopt;
    std::string_view hex = name.substr(0, 64);
    if (hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) return std::nullopt;
    return std::string(hex);
  };
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return size_t(0);
  if (ec) return layers::Error::from_errno(ec.value(), "listing " + layers::quoted(dir));
  std::vector<std::string> records;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec))
    if (auto key = key_of(it->path().filename().string())) records.push_back(std::move(*key));
  if (ec) return layers::Error::from_errno(ec.value(), "listing " + layers::quoted(dir));
  size_t removed = 0;
  auto remove = [&](const std::string& path) -> Result<void> {
    if (::unlink(path.c_str()) == 0) ++removed;
    else if (errno != ENOENT) return layers::Error::from_errno("removing " + layers::quoted(path));
    return {};
  };
  for (const auto& key : records) {
    const std::string path = dir + "/" + key + ".json";
    if (live_record(path, blobs)) continue;
    if (auto r = remove(path); !r) return std::move(r).error();
    if (auto r = remove(dir + "/" + key + ".inputs.json"); !r) return std::move(r).error();
  }
  return removed;
}

Result<void> BuildCache::save(const layers::Digest& key, const CacheRecord& record) const {
  if (auto r = layers::make_dirs(dir_); !r) return r;
  auto saved = layers::write_file_atomic(dir_ + "/" + std::string(key.hex()) + ".json", layers::dump_json(record_to_json(record)));
  if (!saved) return std::move(saved).error().context("saving a build cache record");
  return {};
}

void BuildCache::add_imported(const layers::Digest& key, const CacheRecord& record,
                              std::shared_ptr<const LayerFetcher> fetch) {
  if (!imported_.emplace(key, record).second || !record.layer) return;
  fetchers_.emplace(record.layer->digest, ImportedLayer{std::move(fetch), *record.diff_id});
}

Result<void> BuildCache::ensure_blobs(const std::vector<layers::Descriptor>& layers) const {
  std::lock_guard lock(fetch_mutex_);
  for (const auto& layer : layers) {
    if (blobs_.has(layer.digest)) continue;
    auto fetcher = fetchers_.find(layer.digest);
    if (fetcher == fetchers_.end())
      return layers::Error(layers::ErrorKind::NotFound, "layer " + layer.digest.str() + " is not in the store");
    const std::string what = "cached layer " + layer.digest.str();
    if (auto r = (*fetcher->second.fetch)(layer); !r) return std::move(r).error().context("fetching " + what);
    auto fd = blobs_.open_read(layer.digest);
    if (!fd) return std::move(fd).error().context(what);
    layers::Sha256 content;
    auto decompressed = layers::decompress(fd->get(), [&](std::span<const std::byte> data) -> Result<void> {
      content.update(data);
      return {};
    });
    const layers::Digest diff_id = content.finish();
    if (!decompressed || diff_id != fetcher->second.diff_id) {
      (void)blobs_.remove(layer.digest);
      if (!decompressed) return std::move(decompressed).error().context(what);
      return layers::Error(layers::ErrorKind::Corrupt, what + " holds content " + diff_id.str() + ", its record says " +
                                                           fetcher->second.diff_id.str());
    }
  }
  return {};
}

namespace {
std::string url_record_path(const std::string& dir, std::string_view url) {
  return dir + "/url-" + std::string(layers::Digest::of(url).hex()) + ".json";
}
}  // namespace

std::optional<UrlRecord> BuildCache::lookup_url(std::string_view url) const {
  auto text = layers::read_file(url_record_path(dir_, url), kMaxRecordBytes);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto u = j.find("url"), etag = j.find("etag"), digest = j.find("digest"), mtime = j.find("mtime");
  if (u == j.end() || !u->is_string() || *u != url) return std::nullopt;
  if (etag == j.end() || !etag->is_string() || digest == j.end() || !digest->is_string())
    return std::nullopt;
  auto parsed = layers::Digest::parse(digest->get<std::string>());
  if (!parsed) return std::nullopt;
  UrlRecord record;
  record.etag = etag->get<std::string>();
  record.digest = *parsed;
  if (mtime != j.end() && mtime->is_number_integer()) record.mtime = mtime->get<int64_t>();
  return record;
}

Result<void> BuildCache::save_url(std::string_view url, const UrlRecord& record) const {
  if (auto r = layers::make_dirs(dir_); !r) return r;
  nlohmann::json j = {
      {"url", url}, {"etag", record.etag}, {"digest", record.digest.str()}, {"mtime", nullptr}};
  if (record.mtime) j["mtime"] = *record.mtime;
  auto saved = layers::write_file_atomic(url_record_path(dir_, url), layers::dump_json(j));
  if (!saved)
    return std::move(saved).error().context("saving the download record of " + layers::quoted(url));
  return {};
}

}  // namespace builder
