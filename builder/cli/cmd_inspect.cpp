#include <cstdio>

#include <nlohmann/json.hpp>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "layers/json_text.h"

namespace builder::cli {

using nlohmann::json;

namespace {

// docker inspect's keys where they exist (Id, RepoTags, Created, Config, RootFS, ...), plus
// the stored documents themselves: Descriptor, Manifest, ImageConfig, Layers.
layers::Result<json> describe(const layers::Store& store, const std::string& text) {
  auto d = resolve_image(store, text);
  if (!d) return std::move(d).error();
  auto image = store.load_image(*d);
  if (!image) return std::move(image).error();
  auto names = store.names_of(d->digest);
  if (!names) return std::move(names).error();
  json tags = json::array(), digests = json::array();
  for (const auto& n : *names) tags.push_back(familiar_name(n));
  auto repo_digests = store.repo_digests_of(d->digest);
  if (!repo_digests) return std::move(repo_digests).error();
  for (const auto& r : *repo_digests) digests.push_back(familiar_name(r));
  json config = json::parse(image->config.to_json(), nullptr, false);
  json manifest = json::parse(image->manifest.to_json(), nullptr, false);
  json layers = json::array();
  for (size_t i = 0; i < image->manifest.layers.size(); ++i) {
    json l = layers::descriptor_to_json(image->manifest.layers[i]);
    if (i < image->config.diff_ids.size()) l["diffID"] = image->config.diff_ids[i].str();
    layers.push_back(std::move(l));
  }
  json out = {
      {"Id", image->id().str()},
      {"RepoTags", tags},
      {"RepoDigests", digests},
      {"Created", image->config.created},
      {"Author", image->config.author},
      {"Architecture", image->config.architecture},
      {"Os", image->config.os},
      {"Size", image->size()},
      {"Config", config.value("config", json::object())},
      {"RootFS", {{"Type", "layers"}, {"Layers", config["rootfs"]["diff_ids"]}}},
      {"Descriptor", layers::descriptor_to_json(image->descriptor)},
      {"Manifest", manifest},
      {"ImageConfig", config},
      {"Layers", layers},
  };
  if (!image->config.variant.empty()) out["Variant"] = image->config.variant;
  return out;
}

}  // namespace

layers::Result<int> cmd_inspect(const GlobalOptions& global, const std::vector<std::string>& args) {
  ArgParser parser("hoist inspect IMAGE [IMAGE...]",
                   "Print images as JSON: Id, RepoTags, Config (as docker inspect), and the "
                   "stored Manifest, ImageConfig and Layers.");
  parser.positionals(1, -1, "IMAGE...");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  json out = json::array();
  for (const auto& text : positional) {
    auto j = describe(*store, text);
    if (!j) return std::move(j).error();
    out.push_back(std::move(*j));
  }
  std::puts(layers::dump_json(out, 4).c_str());
  return 0;
}

}  // namespace builder::cli
