#include "builder/explain.h"

#include <sys/stat.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "layers/blob_store.h"
#include "layers/json_text.h"

namespace builder {

using layers::Result;

namespace {

constexpr size_t kMaxListedFiles = 20000;
constexpr size_t kMaxInputsBytes = 16 << 20;
constexpr size_t kMaxLastKeyBytes = 4 << 10;
constexpr size_t kMaxNamedFiles = 5;

std::string inputs_path(const std::string& dir, const layers::Digest& key) {
  return dir + "/" + std::string(key.hex()) + ".inputs.json";
}

std::string last_key_path(const std::string& dir, const std::string& identity) {
  return dir + "/last-" + std::string(layers::Digest::of(identity).hex()) + ".json";
}

// A JSON object of strings as a map; nullopt when anything else is in it.
std::optional<std::map<std::string, std::string>> string_map(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return std::nullopt;
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

std::optional<std::string> string_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string short_key(const std::string& key) {
  auto colon = key.find(':');
  return key.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

// What changed about one file, or "" when nothing did.
std::string file_change(const std::optional<EntryInput>& before, const std::optional<EntryInput>& now) {
  if (!before) return "added";
  if (!now) return "removed";
  const bool content = before->digest != now->digest || (before->mode & S_IFMT) != (now->mode & S_IFMT);
  const bool mode = (before->mode & 07777) != (now->mode & 07777);
  std::string mode_text = "mode " + octal_mode(before->mode) + " -> " + octal_mode(now->mode);
  if (content && mode) return "content and " + mode_text;
  if (content) return "content changed";
  if (mode) return mode_text;
  return "";
}

}  // namespace

std::string octal_mode(uint32_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

void StepInputs::set_files(EntryInputs entries) {
  if (entries.size() > kMaxListedFiles) files.reset();
  else files = std::move(entries);
}

std::vector<std::string> changed_inputs(const StepInputs& before, const StepInputs& now) {
  std::vector<std::string> out;
  if (before.base != now.base)
    out.push_back("base image changed: " + before.base + " -> " + now.base);
  else if (before.parent != now.parent)
    out.push_back("an earlier step changed (its key " + short_key(before.parent) + " -> " + short_key(now.parent) + ")");
  if (before.instruction != now.instruction) out.push_back("instruction changed (was: " + before.instruction + ")");
  for (const auto& [name, digest] : now.args) {
    auto old = before.args.find(name);
    if (old == before.args.end()) out.push_back("build-arg " + name + " is new");
    else if (old->second != digest) out.push_back("build-arg " + name + " changed");
  }
  for (const auto& [name, digest] : before.args)
    if (!now.args.count(name)) out.push_back("build-arg " + name + " is gone");
  if (before.files && now.files) {
    std::vector<std::string> files;
    auto note = [&](const std::string& path, const std::optional<EntryInput>& was, const std::optional<EntryInput>& is) {
      std::string change = file_change(was, is);
      if (!change.empty()) files.push_back("file " + path + ": " + change);
    };
    for (const auto& [path, entry] : *now.files) {
      auto old = before.files->find(path);
      note(path, old == before.files->end() ? std::nullopt : std::optional<EntryInput>(old->second), entry);
    }
    for (const auto& [path, entry] : *before.files)
      if (!now.files->count(path)) note(path, entry, std::nullopt);
    const size_t shown = std::min(files.size(), kMaxNamedFiles);
    out.insert(out.end(), files.begin(), files.begin() + static_cast<std::ptrdiff_t>(shown));
    if (files.size() > shown) out.push_back("and " + std::to_string(files.size() - shown) + " more files");
  } else if (before.files || now.files) {
    out.push_back("its files changed (too many to name)");
  }
  for (const auto& [name, value] : now.settings) {
    auto old = before.settings.find(name);
    if (old == before.settings.end() || old->second != value) out.push_back(name + " changed");
  }
  for (const auto& [name, value] : before.settings)
    if (!now.settings.count(name)) out.push_back(name + " changed");
  return out;
}

Result<void> StepLog::save(const layers::Digest& key, const StepInputs& inputs) const {
  if (auto r = layers::make_dirs(dir_); !r) return r;
  nlohmann::json files = nullptr;
  if (inputs.files) {
    files = nlohmann::json::object();
    for (const auto& [path, entry] : *inputs.files) files[path] = {{"mode", entry.mode}, {"digest", entry.digest}};
  }
  nlohmann::json j = {{"parent", inputs.parent},     {"instruction", inputs.instruction},
                      {"args", inputs.args},         {"files", files},
                      {"base", inputs.base},         {"settings", inputs.settings}};
  // A rebuild finds most of these written already (FROM's, always); an fsync less each.
  const std::string text = layers::dump_json(j);
  if (auto old = layers::read_file(inputs_path(dir_, key), kMaxInputsBytes); old && *old == text) return {};
  auto saved = layers::write_file_atomic(inputs_path(dir_, key), text);
  if (!saved) return std::move(saved).error().context("saving the inputs of a build step");
  return {};
}

std::optional<StepInputs> StepLog::load(const layers::Digest& key) const {
  auto text = layers::read_file(inputs_path(dir_, key), kMaxInputsBytes);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  StepInputs inputs;
  auto parent = string_field(j, "parent"), instruction = string_field(j, "instruction"), base = string_field(j, "base");
  if (!parent || !instruction || !base) return std::nullopt;
  inputs.parent = *parent;
  inputs.instruction = *instruction;
  inputs.base = *base;
  auto args = j.find("args"), settings = j.find("settings"), files = j.find("files");
  if (args == j.end() || settings == j.end() || files == j.end()) return std::nullopt;
  auto arg_map = string_map(*args), setting_map = string_map(*settings);
  if (!arg_map || !setting_map) return std::nullopt;
  inputs.args = std::move(*arg_map);
  inputs.settings = std::move(*setting_map);
  if (!files->is_null()) {
    if (!files->is_object()) return std::nullopt;
    EntryInputs entries;
    for (const auto& [path, entry] : files->items()) {
      if (!entry.is_object()) return std::nullopt;
      auto mode = entry.find("mode");
      auto digest = string_field(entry, "digest");
      if (mode == entry.end() || !mode->is_number_unsigned() || !digest) return std::nullopt;
      entries[path] = {mode->get<uint32_t>(), *digest};
    }
    inputs.files = std::move(entries);
  }
  return inputs;
}

Result<void> StepLog::save_last_key(const std::string& identity, const layers::Digest& key) const {
  // A no-change rebuild writes none of these: two fsyncs per step were most of its time.
  if (last_key(identity) == key) return {};
  if (auto r = layers::make_dirs(dir_); !r) return r;
  nlohmann::json j = {{"identity", identity}, {"key", key.str()}};
  auto saved = layers::write_file_atomic(last_key_path(dir_, identity), layers::dump_json(j));
  if (!saved) return std::move(saved).error().context("saving the last key of a build step");
  return {};
}

std::optional<layers::Digest> StepLog::last_key(const std::string& identity) const {
  auto text = layers::read_file(last_key_path(dir_, identity), kMaxLastKeyBytes);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto recorded = string_field(j, "identity"), key = string_field(j, "key");
  if (!recorded || *recorded != identity || !key) return std::nullopt;
  auto parsed = layers::Digest::parse(*key);
  if (!parsed) return std::nullopt;
  return *parsed;
}

std::string StepLog::explain(const std::string& identity, const layers::Digest& key, const StepInputs& now) const {
  auto last = last_key(identity);
  if (!last) return "no earlier build of this step";
  if (*last == key) return "same inputs as the last build, but its cache record is gone";
  auto before = load(*last);
  if (!before) return "no readable record of the earlier build of this step";
  auto reasons = changed_inputs(*before, now);
  if (reasons.empty()) return "an input changed that --explain does not name";
  std::string line;
  for (const auto& reason : reasons) line += (line.empty() ? "" : "; ") + reason;
  return line;
}

}  // namespace builder
