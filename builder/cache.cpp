#include "builder/cache.h"

#include <nlohmann/json.hpp>

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

std::optional<CacheRecord> BuildCache::lookup(const layers::Digest& key) const {
  auto text = layers::read_file(dir_ + "/" + std::string(key.hex()) + ".json", kMaxRecordBytes);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  CacheRecord record;
  auto created = j.find("created");
  if (created == j.end() || !created->is_string()) return std::nullopt;
  record.created = created->get<std::string>();
  if (auto layer = j.find("layer"); layer != j.end() && !layer->is_null()) {
    auto descriptor = layers::descriptor_from_json(*layer, "cache record");
    if (!descriptor || !blobs_.has(descriptor->digest)) return std::nullopt;
    auto diff_id = j.find("diff_id");
    if (diff_id == j.end() || !diff_id->is_string()) return std::nullopt;
    auto parsed = layers::Digest::parse(diff_id->get<std::string>());
    if (!parsed) return std::nullopt;
    record.layer = *descriptor;
    record.diff_id = *parsed;
  }
  return record;
}

Result<void> BuildCache::save(const layers::Digest& key, const CacheRecord& record) const {
  if (auto r = layers::make_dirs(dir_); !r) return r;
  nlohmann::json j = {{"created", record.created}, {"layer", nullptr}};
  if (record.layer && record.diff_id) {
    j["layer"] = layers::descriptor_to_json(*record.layer);
    j["diff_id"] = record.diff_id->str();
  }
  auto saved = layers::write_file_atomic(dir_ + "/" + std::string(key.hex()) + ".json", j.dump());
  if (!saved) return std::move(saved).error().context("saving a build cache record");
  return {};
}

}  // namespace builder
