// hoist diff IMAGE_A IMAGE_B: why two images differ. First the image configs, field by
// field (any JSON difference, by path), then each layer position whose diff_ids differ,
// path by path (added, removed, or what changed: type, content, mode, owner, mtime,
// xattrs, link target). Exits as diff(1): 0 identical, 1 different, 2 trouble.

#include <sys/stat.h>

#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "builder/explain.h"
#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "layers/layer_entries.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;
using layers::Result;
using nlohmann::json;

namespace {

constexpr size_t kMaxShownValue = 200;

// Names from images are untrusted bytes: control characters are shown escaped.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxShownValue) text = text.substr(0, kMaxShownValue) + "...";
  return printable(text);
}

// Every difference between `a` and `b` below `path`, one line each.
void diff_json(const std::string& path, const json& a, const json& b, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      auto other = b.find(key);
      if (other == b.end()) out.push_back(path + "." + printable(key) + ": removed (was " + shown(value) + ")");
      else diff_json(path + "." + printable(key), value, *other, out);
    }
    for (const auto& [key, value] : b.items())
      if (!a.contains(key)) out.push_back(path + "." + printable(key) + ": added " + shown(value));
    return;
  }
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      std::string at = path + "[" + std::to_string(i) + "]";
      if (i >= b.size()) out.push_back(at + ": removed (was " + shown(a[i]) + ")");
      else if (i >= a.size()) out.push_back(at + ": added " + shown(b[i]));
      else diff_json(at, a[i], b[i], out);
    }
    return;
  }
  if (a != b) out.push_back(path + ": " + shown(a) + " -> " + shown(b));
}

struct LoadedImage {
  layers::Image image;
  json config;  // the config blob as stored, every field
};

Result<LoadedImage> load(const layers::Store& store, const std::string& text) {
  auto descriptor = resolve_image(store, text);
  if (!descriptor) return std::move(descriptor).error();
  auto image = store.load_image(*descriptor);
  if (!image) return std::move(image).error().context("loading " + layers::quoted(text));
  auto bytes = store.blobs().read_all(image->manifest.config.digest, layers::kMaxConfigBytes);
  if (!bytes) return std::move(bytes).error().context("reading the config of " + layers::quoted(text));
  auto config = json::parse(*bytes, nullptr, false);
  if (config.is_discarded()) return Error(ErrorKind::Corrupt, "the config of " + layers::quoted(text) + " is not JSON");
  return LoadedImage{std::move(*image), std::move(config)};
}

using Listing = std::map<std::string, layers::LayerEntry>;

Result<Listing> list_layer(const layers::Store& store, const layers::Descriptor& layer) {
  auto fd = store.blobs().open_read(layer.digest);
  if (!fd) return std::move(fd).error().context("layer " + layer.digest.str());
  Listing listing;
  auto walked = layers::for_each_layer_entry(fd->get(), true, [&](const layers::LayerEntry& e) -> Result<void> {
    listing.insert_or_assign(e.path, e);  // a later entry of the same path replaces the earlier
    return {};
  });
  if (!walked) return std::move(walked).error().context("layer " + layer.digest.str());
  return listing;
}

const char* type_name(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "symlink";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFIFO: return "fifo";
    default: return "entry";
  }
}

// What differs between two entries of one path, "" when nothing does.
std::string entry_change(const layers::LayerEntry& a, const layers::LayerEntry& b) {
  std::vector<std::string> parts;
  if ((a.mode & S_IFMT) != (b.mode & S_IFMT)) parts.push_back(std::string("type ") + type_name(a.mode) + " -> " + type_name(b.mode));
  else if (a.content != b.content || a.size != b.size) parts.push_back("content");
  if (a.hardlink != b.hardlink)
    parts.push_back("hardlink " + printable(a.hardlink.empty() ? "(none)" : a.hardlink) + " -> " +
                    printable(b.hardlink.empty() ? "(none)" : b.hardlink));
  if (a.link_target != b.link_target)
    parts.push_back("link target " + printable(a.link_target) + " -> " + printable(b.link_target));
  if (a.rdev_major != b.rdev_major || a.rdev_minor != b.rdev_minor) parts.push_back("device number");
  if ((a.mode & 07777) != (b.mode & 07777)) parts.push_back("mode " + octal_mode(a.mode) + " -> " + octal_mode(b.mode));
  if (a.uid != b.uid || a.gid != b.gid)
    parts.push_back("owner " + std::to_string(a.uid) + ":" + std::to_string(a.gid) + " -> " + std::to_string(b.uid) +
                    ":" + std::to_string(b.gid));
  if (a.mtime_sec != b.mtime_sec || a.mtime_nsec != b.mtime_nsec)
    parts.push_back("mtime " + std::to_string(a.mtime_sec) + " -> " + std::to_string(b.mtime_sec));
  if (a.xattrs != b.xattrs) parts.push_back("xattrs");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// The lines for layer position `index`: a missing side lists the other's paths as all
// added or all removed.
Result<std::vector<std::string>> diff_layer(const layers::Store& store, const layers::Descriptor* a,
                                            const layers::Descriptor* b) {
  Listing before, after;
  if (a) {
    auto listed = list_layer(store, *a);
    if (!listed) return std::move(listed).error();
    before = std::move(*listed);
  }
  if (b) {
    auto listed = list_layer(store, *b);
    if (!listed) return std::move(listed).error();
    after = std::move(*listed);
  }
  std::vector<std::string> out;
  for (const auto& [path, entry] : before) {
    auto other = after.find(path);
    if (other == after.end()) {
      out.push_back("  removed /" + printable(path));
    } else if (auto change = entry_change(entry, other->second); !change.empty()) {
      out.push_back("  changed /" + printable(path) + ": " + change);
    }
  }
  for (const auto& [path, entry] : after)
    if (!before.count(path)) out.push_back("  added /" + printable(path));
  return out;
}

}  // namespace

Result<int> cmd_diff(const GlobalOptions& global, const std::vector<std::string>& args) {
  ArgParser parser("hoist diff IMAGE_A IMAGE_B",
                   "Explain why two images differ: config fields, then per layer the paths added, removed "
                   "or changed. Exits 0 when identical, 1 when they differ, 2 on trouble.");
  parser.positionals(2, 2, "IMAGE_A IMAGE_B");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  auto a = load(*store, positional[0]);
  if (!a) return std::move(a).error();
  auto b = load(*store, positional[1]);
  if (!b) return std::move(b).error();

  std::vector<std::string> config_lines;
  diff_json("config", a->config, b->config, config_lines);
  bool differ = !config_lines.empty();
  for (const auto& line : config_lines) std::printf("%s\n", line.c_str());

  const auto& layers_a = a->image.manifest.layers;
  const auto& layers_b = b->image.manifest.layers;
  const auto& ids_a = a->image.config.diff_ids;
  const auto& ids_b = b->image.config.diff_ids;
  for (size_t i = 0; i < std::max(layers_a.size(), layers_b.size()); ++i) {
    const layers::Descriptor* la = i < layers_a.size() ? &layers_a[i] : nullptr;
    const layers::Descriptor* lb = i < layers_b.size() ? &layers_b[i] : nullptr;
    auto id_of = [](const std::vector<layers::Digest>& ids, size_t n, const layers::Descriptor* d) {
      return n < ids.size() ? ids[n].str() : d ? d->digest.str() : std::string("(none)");
    };
    std::string id_a = la ? id_of(ids_a, i, la) : "(none)", id_b = lb ? id_of(ids_b, i, lb) : "(none)";
    if (la && lb && id_a == id_b) continue;
    differ = true;
    std::printf("layer %zu: %s -> %s\n", i + 1, id_a.c_str(), id_b.c_str());
    auto lines = diff_layer(*store, la, lb);
    if (!lines) return std::move(lines).error().context("layer " + std::to_string(i + 1));
    for (const auto& line : *lines) std::printf("%s\n", line.c_str());
    if (lines->empty()) std::printf("  same entries (the tars differ only in order or padding)\n");
  }
  if (!differ) std::printf("identical\n");
  return differ ? 1 : 0;
}

}  // namespace builder::cli
