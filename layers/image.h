#pragma once
// Image JSON: descriptors, manifests, indexes and image configs, in both the OCI and the
// Docker schema2 media types (they share one shape; only the media type strings differ).
//
// Parsing: every *_from_json / parse_* function takes untrusted text (a registry reply, a
// blob, a tarball member). It refuses text over its size limit, text that is not JSON, and
// fields of the wrong type, with InvalidInput naming what was being read and the field
// ("manifest: layers[2].digest: invalid sha256 digest ..."). Unknown fields are ignored in
// descriptors/manifests/indexes; in image configs they are kept (`extra`) so a config read
// and written back keeps what other tools put there.
//
// Serializing: to_json() output is deterministic (object keys sorted, no whitespace), so
// the same value always has the same digest. Absent optionals are omitted.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/digest.h"
#include "layers/error.h"

namespace layers {

namespace media_type {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_type

namespace annotation {
inline constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kCreated = "org.opencontainers.image.created";
// What containerd and `docker save` put beside ref.name; hoist writes and reads it too.
inline constexpr std::string_view kContainerdImageName = "io.containerd.image.name";
// hoist's own, on the store's index entries: docker's RepoDigests, "REPO@DIGEST,...".
inline constexpr std::string_view kRepoDigests = "io.hoist.repo-digests";
}  // namespace annotation

// Size limits for JSON documents read from anywhere untrusted.
inline constexpr size_t kMaxManifestBytes = 4 << 20;
inline constexpr size_t kMaxConfigBytes = 8 << 20;

enum class Flavor { Oci, Docker };

// What a media type is, whichever flavor spells it.
bool is_manifest_type(std::string_view media_type);
bool is_index_type(std::string_view media_type);
bool is_layer_type(std::string_view media_type);
// Docker's foreign layers and OCI non-distributable layers: fetched from the descriptor's
// `urls` when the registry lacks them, and never pushed (as Docker does).
bool is_nondistributable_layer(std::string_view media_type);
// "gzip", "zstd" or "" (uncompressed or unknown) for a layer media type.
std::string_view layer_compression(std::string_view media_type);
// The same kind of thing in the other flavor; unknown types come back unchanged.
// (Docker has no zstd or uncompressed layer type: those keep their OCI spelling.)
std::string convert_media_type(std::string_view media_type, Flavor to);

struct Platform {
  std::string architecture;  // GOARCH spelling: "amd64", "arm64"
  std::string os;            // "linux"
  std::string variant;       // "v8", or ""
  std::string os_version;
  std::vector<std::string> os_features;

  // The machine hoist runs on, in GOARCH words (uname x86_64 -> amd64, aarch64 -> arm64).
  static Platform host();
  // "linux/amd64", "linux/arm64/v8".
  std::string str() const;
  // Parses "os/arch[/variant]". InvalidInput otherwise.
  static Result<Platform> parse(std::string_view text);
  friend bool operator==(const Platform&, const Platform&) = default;
};

struct Descriptor {
  std::string media_type;
  Digest digest = Digest::of("");
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::vector<std::string> urls;

  // The org.opencontainers.image.ref.name annotation, or "".
  std::string ref_name() const;
  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

struct Manifest {
  std::string media_type = std::string(media_type::kOciManifest);
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;

  // The flavor follows media_type: a Docker manifest lists Docker layer types.
  std::string to_json() const;
  // Converts this manifest, its config and layer media types to `to`.
  Manifest converted(Flavor to) const;
};

struct Index {
  std::string media_type = std::string(media_type::kOciIndex);
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;

  std::string to_json() const;
};

struct Healthcheck {
  std::vector<std::string> test;  // ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]
  int64_t interval_ns = 0;        // 0 means inherit
  int64_t timeout_ns = 0;
  int64_t start_period_ns = 0;
  int64_t start_interval_ns = 0;
  int retries = 0;
  friend bool operator==(const Healthcheck&, const Healthcheck&) = default;
};

// The "config" object of an image config: what a container starts with.
struct ContainerConfig {
  std::string user;
  std::set<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> env;         // "KEY=value", in order
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::set<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> on_build;
  std::vector<std::string> shell;  // empty: the default ["/bin/sh", "-c"]
  bool args_escaped = false;
  nlohmann::json extra = nlohmann::json::object();  // fields hoist does not model

  friend bool operator==(const ContainerConfig&, const ContainerConfig&) = default;
};

struct HistoryEntry {
  std::string created;  // RFC 3339, or ""
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

struct ImageConfig {
  std::string created;  // RFC 3339, or ""
  std::string author;
  std::string architecture;
  std::string os;
  std::string variant;
  std::string os_version;
  ContainerConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids; rootfs.type is always "layers"
  std::vector<HistoryEntry> history;
  nlohmann::json extra = nlohmann::json::object();  // fields hoist does not model

  std::string to_json() const;
  friend bool operator==(const ImageConfig&, const ImageConfig&) = default;
};

// The parsers. `what` names the document in errors ("manifest sha256:ab12...").
Result<Descriptor> descriptor_from_json(const nlohmann::json& j, std::string_view what);
nlohmann::json descriptor_to_json(const Descriptor& d);
Result<Manifest> parse_manifest(std::string_view text, std::string_view what = "manifest");
Result<Index> parse_index(std::string_view text, std::string_view what = "index",
                          size_t max_bytes = kMaxManifestBytes);
Result<ImageConfig> parse_image_config(std::string_view text,
                                       std::string_view what = "image config");

// Parses `text` as JSON with a size limit; InvalidInput if too big or malformed.
Result<nlohmann::json> parse_json(std::string_view text, size_t max_bytes, std::string_view what);

// RFC 3339 UTC with seconds ("2024-05-01T12:00:00Z") for a Unix time.
std::string format_rfc3339(int64_t unix_seconds);
// SOURCE_DATE_EPOCH when set and valid, else the current time.
int64_t creation_time();

}  // namespace layers
