#include "layers/image.h"

#include <sys/utsname.h>

#include <cstdlib>
#include <ctime>

#include "layers/json_text.h"

namespace layers {

using json = nlohmann::json;

namespace {

Error bad_field(std::string_view what, std::string_view field, std::string_view why) {
  return Error(ErrorKind::InvalidInput,
               std::string(what) + ": " + std::string(field) + ": " + std::string(why));
}

// Readers for one field of an untrusted object. A missing or null field leaves `out` alone;
// a field of the wrong type is an error naming it.
struct Fields {
  const json& obj;
  std::string_view what;  // "manifest sha256:..."
  std::string prefix;     // "layers[2]."

  std::string name(std::string_view key) const { return prefix + std::string(key); }
  const json* find(std::string_view key) const {
    auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Result<void> str(std::string_view key, std::string& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_string()) return bad_field(what, name(key), "want a string");
    out = v->get<std::string>();
    return {};
  }
  Result<void> integer(std::string_view key, int64_t& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_number_integer()) return bad_field(what, name(key), "want an integer");
    out = v->get<int64_t>();
    return {};
  }
  Result<void> boolean(std::string_view key, bool& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_boolean()) return bad_field(what, name(key), "want true or false");
    out = v->get<bool>();
    return {};
  }
  Result<void> str_list(std::string_view key, std::vector<std::string>& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_array()) return bad_field(what, name(key), "want an array of strings");
    out.clear();
    for (const auto& e : *v) {
      if (!e.is_string()) return bad_field(what, name(key), "want an array of strings");
      out.push_back(e.get<std::string>());
    }
    return {};
  }
  Result<void> opt_str_list(std::string_view key,
                            std::optional<std::vector<std::string>>& out) const {
    if (!find(key)) return {};
    std::vector<std::string> list;
    if (auto r = str_list(key, list); !r) return r;
    out = std::move(list);
    return {};
  }
  Result<void> str_map(std::string_view key, std::map<std::string, std::string>& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_object()) return bad_field(what, name(key), "want an object of strings");
    for (const auto& [k, e] : v->items()) {
      if (!e.is_string()) return bad_field(what, name(key) + "." + k, "want a string");
      out[k] = e.get<std::string>();
    }
    return {};
  }
  // Docker's set encoding: {"80/tcp": {}, ...}.
  Result<void> key_set(std::string_view key, std::set<std::string>& out) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_object()) return bad_field(what, name(key), "want an object");
    for (const auto& [k, e] : v->items()) out.insert(k);
    return {};
  }
  Result<const json*> object(std::string_view key) const {
    const json* v = find(key);
    if (v && !v->is_object()) return bad_field(what, name(key), "want an object");
    return v;
  }
  Result<const json*> array(std::string_view key) const {
    const json* v = find(key);
    if (v && !v->is_array()) return bad_field(what, name(key), "want an array");
    return v;
  }
};

#define HOIST_TRY(expr)            \
  do {                             \
    if (auto r_ = (expr); !r_) return std::move(r_).error(); \
  } while (0)

Result<Platform> platform_from_json(const json& j, std::string_view what, std::string prefix) {
  if (!j.is_object()) return bad_field(what, prefix, "want an object");
  Fields f{j, what, prefix + "."};
  Platform p;
  HOIST_TRY(f.str("architecture", p.architecture));
  HOIST_TRY(f.str("os", p.os));
  HOIST_TRY(f.str("variant", p.variant));
  HOIST_TRY(f.str("os.version", p.os_version));
  HOIST_TRY(f.str_list("os.features", p.os_features));
  return p;
}

json platform_to_json(const Platform& p) {
  json j = {{"architecture", p.architecture}, {"os", p.os}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
  return j;
}

Result<Descriptor> descriptor_at(const json& j, std::string_view what, std::string prefix) {
  if (!j.is_object()) return bad_field(what, prefix, "want an object");
  Fields f{j, what, prefix + "."};
  Descriptor d;
  HOIST_TRY(f.str("mediaType", d.media_type));
  std::string digest;
  HOIST_TRY(f.str("digest", digest));
  if (digest.empty()) return bad_field(what, prefix + ".digest", "missing");
  auto parsed = Digest::parse(digest);
  if (!parsed) return std::move(parsed).error().context(std::string(what) + ": " + prefix + ".digest");
  d.digest = *parsed;
  HOIST_TRY(f.integer("size", d.size));
  if (d.size < 0) return bad_field(what, prefix + ".size", "negative");
  HOIST_TRY(f.str_map("annotations", d.annotations));
  HOIST_TRY(f.str_list("urls", d.urls));
  if (const json* p = f.find("platform")) {
    auto platform = platform_from_json(*p, what, prefix + ".platform");
    if (!platform) return std::move(platform).error();
    d.platform = std::move(*platform);
  }
  return d;
}

Result<void> check_schema_version(const json& j, std::string_view what) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != 2)
    return Error(ErrorKind::Unsupported, std::string(what) + ": schemaVersion is not 2");
  return {};
}

std::string dump(const json& j) { return dump_json(j); }

}  // namespace

bool is_manifest_type(std::string_view t) {
  return t == media_type::kOciManifest || t == media_type::kDockerManifest;
}
bool is_index_type(std::string_view t) {
  return t == media_type::kOciIndex || t == media_type::kDockerManifestList;
}
bool is_layer_type(std::string_view t) {
  return t.starts_with("application/vnd.oci.image.layer.") ||
         t.starts_with("application/vnd.docker.image.rootfs.");
}

bool is_nondistributable_layer(std::string_view t) {
  return t == media_type::kDockerForeignLayerGzip ||
         t.starts_with("application/vnd.oci.image.layer.nondistributable.");
}

std::string_view layer_compression(std::string_view t) {
  if (t.ends_with("+gzip") || t.ends_with(".tar.gzip")) return "gzip";
  if (t.ends_with("+zstd")) return "zstd";
  return "";
}

std::string convert_media_type(std::string_view t, Flavor to) {
  using namespace media_type;
  static const std::pair<std::string_view, std::string_view> kPairs[] = {
      {kOciManifest, kDockerManifest},
      {kOciIndex, kDockerManifestList},
      {kOciConfig, kDockerConfig},
      {kOciLayerGzip, kDockerLayerGzip},
  };
  for (auto [oci, docker] : kPairs) {
    if (to == Flavor::Docker && t == oci) return std::string(docker);
    if (to == Flavor::Oci && t == docker) return std::string(oci);
  }
  if (to == Flavor::Oci && t == kDockerForeignLayerGzip) return std::string(kOciLayerGzip);
  return std::string(t);
}

Platform Platform::host() {
  Platform p;
  p.os = "linux";
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") {
    p.architecture = "amd64";
  } else if (machine == "aarch64" || machine == "arm64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (machine.starts_with("armv7")) {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (machine == "i686" || machine == "i386") {
    p.architecture = "386";
  } else if (machine == "ppc64le" || machine == "s390x" || machine == "riscv64") {
    p.architecture = machine;
  } else {
    p.architecture = machine;
  }
  return p;
}

std::string Platform::str() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

Result<Platform> Platform::parse(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  bool ok = parts.size() >= 2 && parts.size() <= 3;
  for (const auto& p : parts) {
    if (p.empty()) ok = false;
    for (char c : p)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) ok = false;
  }
  if (!ok)
    return Error(ErrorKind::InvalidInput,
                 "invalid platform " + layers::quoted(text) + ": want os/arch[/variant]");
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

std::string Descriptor::ref_name() const {
  auto it = annotations.find(std::string(annotation::kRefName));
  return it == annotations.end() ? std::string() : it->second;
}

json descriptor_to_json(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = platform_to_json(*d.platform);
  if (!d.urls.empty()) j["urls"] = d.urls;
  return j;
}

Result<Descriptor> descriptor_from_json(const json& j, std::string_view what) {
  return descriptor_at(j, what, "descriptor");
}

Result<json> parse_json(std::string_view text, size_t max_bytes, std::string_view what) {
  if (text.size() > max_bytes)
    return Error(ErrorKind::InvalidInput, std::string(what) + ": " + std::to_string(text.size()) +
                                              " bytes is over the limit of " +
                                              std::to_string(max_bytes));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Error(ErrorKind::InvalidInput, std::string(what) + ": not valid JSON");
  if (!j.is_object()) return Error(ErrorKind::InvalidInput, std::string(what) + ": not a JSON object");
  return j;
}

std::string Manifest::to_json() const {
  json j = {{"schemaVersion", 2}, {"mediaType", media_type}, {"config", descriptor_to_json(config)}};
  json list = json::array();
  for (const auto& l : layers) list.push_back(descriptor_to_json(l));
  j["layers"] = std::move(list);
  if (!annotations.empty()) j["annotations"] = annotations;
  return dump(j);
}

Manifest Manifest::converted(Flavor to) const {
  Manifest m = *this;
  m.media_type = convert_media_type(media_type, to);
  m.config.media_type = convert_media_type(config.media_type, to);
  for (auto& l : m.layers) l.media_type = convert_media_type(l.media_type, to);
  return m;
}

Result<Manifest> parse_manifest(std::string_view text, std::string_view what) {
  auto parsed = parse_json(text, kMaxManifestBytes, what);
  if (!parsed) return std::move(parsed).error();
  const json& j = *parsed;
  HOIST_TRY(check_schema_version(j, what));
  Fields f{j, what, ""};
  Manifest m;
  m.media_type.clear();
  HOIST_TRY(f.str("mediaType", m.media_type));
  // The media type field is optional in OCI; a manifest is known by its shape then.
  if (m.media_type.empty()) m.media_type = media_type::kOciManifest;
  if (!is_manifest_type(m.media_type))
    return Error(ErrorKind::InvalidInput,
                 std::string(what) + ": media type " + layers::quoted(m.media_type) + " is not a manifest");
  const json* config = f.find("config");
  if (!config) return bad_field(what, "config", "missing");
  auto c = descriptor_at(*config, what, "config");
  if (!c) return std::move(c).error();
  m.config = std::move(*c);
  auto layers = f.array("layers");
  if (!layers) return std::move(layers).error();
  if (*layers) {
    size_t i = 0;
    for (const auto& l : **layers) {
      auto d = descriptor_at(l, what, "layers[" + std::to_string(i++) + "]");
      if (!d) return std::move(d).error();
      m.layers.push_back(std::move(*d));
    }
  }
  HOIST_TRY(f.str_map("annotations", m.annotations));
  return m;
}

std::string Index::to_json() const {
  json j = {{"schemaVersion", 2}, {"mediaType", media_type}};
  json list = json::array();
  for (const auto& d : manifests) list.push_back(descriptor_to_json(d));
  j["manifests"] = std::move(list);
  if (!annotations.empty()) j["annotations"] = annotations;
  return dump(j);
}

Result<Index> parse_index(std::string_view text, std::string_view what, size_t max_bytes) {
  auto parsed = parse_json(text, max_bytes, what);
  if (!parsed) return std::move(parsed).error();
  const json& j = *parsed;
  HOIST_TRY(check_schema_version(j, what));
  Fields f{j, what, ""};
  Index index;
  index.media_type.clear();
  HOIST_TRY(f.str("mediaType", index.media_type));
  if (index.media_type.empty()) index.media_type = media_type::kOciIndex;
  if (!is_index_type(index.media_type))
    return Error(ErrorKind::InvalidInput,
                 std::string(what) + ": media type " + layers::quoted(index.media_type) + " is not an index");
  auto manifests = f.array("manifests");
  if (!manifests) return std::move(manifests).error();
  if (*manifests) {
    size_t i = 0;
    for (const auto& m : **manifests) {
      auto d = descriptor_at(m, what, "manifests[" + std::to_string(i++) + "]");
      if (!d) return std::move(d).error();
      index.manifests.push_back(std::move(*d));
    }
  }
  HOIST_TRY(f.str_map("annotations", index.annotations));
  return index;
}

namespace {

Result<ContainerConfig> container_config_from_json(const json& j, std::string_view what) {
  Fields f{j, what, "config."};
  ContainerConfig c;
  HOIST_TRY(f.str("User", c.user));
  HOIST_TRY(f.key_set("ExposedPorts", c.exposed_ports));
  HOIST_TRY(f.str_list("Env", c.env));
  HOIST_TRY(f.opt_str_list("Entrypoint", c.entrypoint));
  HOIST_TRY(f.opt_str_list("Cmd", c.cmd));
  HOIST_TRY(f.key_set("Volumes", c.volumes));
  HOIST_TRY(f.str("WorkingDir", c.working_dir));
  HOIST_TRY(f.str_map("Labels", c.labels));
  HOIST_TRY(f.str("StopSignal", c.stop_signal));
  HOIST_TRY(f.str_list("OnBuild", c.on_build));
  HOIST_TRY(f.str_list("Shell", c.shell));
  HOIST_TRY(f.boolean("ArgsEscaped", c.args_escaped));
  auto hc = f.object("Healthcheck");
  if (!hc) return std::move(hc).error();
  if (*hc) {
    Fields h{**hc, what, "config.Healthcheck."};
    Healthcheck check;
    int64_t retries = 0;
    HOIST_TRY(h.str_list("Test", check.test));
    HOIST_TRY(h.integer("Interval", check.interval_ns));
    HOIST_TRY(h.integer("Timeout", check.timeout_ns));
    HOIST_TRY(h.integer("StartPeriod", check.start_period_ns));
    HOIST_TRY(h.integer("StartInterval", check.start_interval_ns));
    HOIST_TRY(h.integer("Retries", retries));
    if (retries < 0 || retries > 1'000'000)
      return bad_field(what, "config.Healthcheck.Retries", "out of range");
    check.retries = static_cast<int>(retries);
    c.healthcheck = std::move(check);
  }
  static const char* kKnown[] = {"User",   "ExposedPorts", "Env",        "Entrypoint",
                                 "Cmd",    "Volumes",      "WorkingDir", "Labels",
                                 "StopSignal", "OnBuild",  "Shell",      "ArgsEscaped",
                                 "Healthcheck"};
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* name : kKnown) known = known || k == name;
    if (!known) c.extra[k] = v;
  }
  return c;
}

json container_config_to_json(const ContainerConfig& c) {
  json j = c.extra.is_object() ? c.extra : json::object();
  auto set_of = [](const std::set<std::string>& s) {
    json o = json::object();
    for (const auto& k : s) o[k] = json::object();
    return o;
  };
  if (!c.user.empty()) j["User"] = c.user;
  if (!c.exposed_ports.empty()) j["ExposedPorts"] = set_of(c.exposed_ports);
  if (!c.env.empty()) j["Env"] = c.env;
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  if (!c.volumes.empty()) j["Volumes"] = set_of(c.volumes);
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (!c.on_build.empty()) j["OnBuild"] = c.on_build;
  if (!c.shell.empty()) j["Shell"] = c.shell;
  if (c.args_escaped) j["ArgsEscaped"] = true;
  if (c.healthcheck) {
    const Healthcheck& h = *c.healthcheck;
    json hj = {{"Test", h.test}};
    if (h.interval_ns) hj["Interval"] = h.interval_ns;
    if (h.timeout_ns) hj["Timeout"] = h.timeout_ns;
    if (h.start_period_ns) hj["StartPeriod"] = h.start_period_ns;
    if (h.start_interval_ns) hj["StartInterval"] = h.start_interval_ns;
    if (h.retries) hj["Retries"] = h.retries;
    j["Healthcheck"] = std::move(hj);
  }
  return j;
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view text, std::string_view what) {
  auto parsed = parse_json(text, kMaxConfigBytes, what);
  if (!parsed) return std::move(parsed).error();
  const json& j = *parsed;
  Fields f{j, what, ""};
  ImageConfig ic;
  HOIST_TRY(f.str("created", ic.created));
  HOIST_TRY(f.str("author", ic.author));
  HOIST_TRY(f.str("architecture", ic.architecture));
  HOIST_TRY(f.str("os", ic.os));
  HOIST_TRY(f.str("variant", ic.variant));
  HOIST_TRY(f.str("os.version", ic.os_version));
  auto config = f.object("config");
  if (!config) return std::move(config).error();
  if (*config) {
    auto c = container_config_from_json(**config, what);
    if (!c) return std::move(c).error();
    ic.config = std::move(*c);
  }
  auto rootfs = f.object("rootfs");
  if (!rootfs) return std::move(rootfs).error();
  if (*rootfs) {
    Fields r{**rootfs, what, "rootfs."};
    std::string type;
    HOIST_TRY(r.str("type", type));
    if (type != "layers") return bad_field(what, "rootfs.type", "want \"layers\"");
    std::vector<std::string> ids;
    HOIST_TRY(r.str_list("diff_ids", ids));
    for (size_t i = 0; i < ids.size(); ++i) {
      auto d = Digest::parse(ids[i]);
      if (!d)
        return std::move(d).error().context(std::string(what) + ": rootfs.diff_ids[" +
                                            std::to_string(i) + "]");
      ic.diff_ids.push_back(*d);
    }
  }
  auto history = f.array("history");
  if (!history) return std::move(history).error();
  if (*history) {
    size_t i = 0;
    for (const auto& h : **history) {
      std::string prefix = "history[" + std::to_string(i++) + "]";
      if (!h.is_object()) return bad_field(what, prefix, "want an object");
      Fields hf{h, what, prefix + "."};
      HistoryEntry e;
      HOIST_TRY(hf.str("created", e.created));
      HOIST_TRY(hf.str("created_by", e.created_by));
      HOIST_TRY(hf.str("author", e.author));
      HOIST_TRY(hf.str("comment", e.comment));
      HOIST_TRY(hf.boolean("empty_layer", e.empty_layer));
      ic.history.push_back(std::move(e));
    }
  }
  static const char* kKnown[] = {"created", "author", "architecture", "os",     "variant",
                                 "os.version", "config", "rootfs",    "history"};
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* name : kKnown) known = known || k == name;
    if (!known) ic.extra[k] = v;
  }
  return ic;
}

std::string ImageConfig::to_json() const {
  json j = extra.is_object() ? extra : json::object();
  if (!created.empty()) j["created"] = created;
  if (!author.empty()) j["author"] = author;
  j["architecture"] = architecture;
  j["os"] = os;
  if (!variant.empty()) j["variant"] = variant;
  if (!os_version.empty()) j["os.version"] = os_version;
  j["config"] = container_config_to_json(config);
  json ids = json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", std::move(ids)}};
  if (!history.empty()) {
    json list = json::array();
    for (const auto& h : history) {
      json e = json::object();
      if (!h.created.empty()) e["created"] = h.created;
      if (!h.created_by.empty()) e["created_by"] = h.created_by;
      if (!h.author.empty()) e["author"] = h.author;
      if (!h.comment.empty()) e["comment"] = h.comment;
      if (h.empty_layer) e["empty_layer"] = true;
      list.push_back(std::move(e));
    }
    j["history"] = std::move(list);
  }
  return dump(j);
}

std::string format_rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t creation_time() {
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) {
    char* end = nullptr;
    long long v = std::strtoll(epoch, &end, 10);
    if (end && *end == '\0' && v >= 0) return v;
  }
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace layers
