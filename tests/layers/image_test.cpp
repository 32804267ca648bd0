#include <catch2/catch.hpp>

#include "layers/image.h"

namespace {
const std::string kHexA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kHexB = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
}  // namespace

TEST_CASE("image: a full config survives a round trip", "[layers][image]") {
  layers::ImageConfig c;
  c.created = "2024-01-02T03:04:05Z";
  c.architecture = "amd64";
  c.os = "linux";
  c.config.user = "app";
  c.config.exposed_ports = {"80/tcp", "53/udp"};
  c.config.env = {"PATH=/usr/bin:/bin", "A=b=c"};
  c.config.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
  c.config.cmd = std::vector<std::string>{};
  c.config.volumes = {"/data"};
  c.config.working_dir = "/srv";
  c.config.labels = {{"a", "1"}, {"b", ""}};
  c.config.stop_signal = "SIGTERM";
  c.config.healthcheck = layers::Healthcheck{{"CMD-SHELL", "true"}, 30'000'000'000, 0, 0, 0, 3};
  c.config.on_build = {"RUN echo hi"};
  c.config.shell = {"/bin/bash", "-c"};
  c.diff_ids = {*layers::Digest::from_hex(kHexA), *layers::Digest::from_hex(kHexB)};
  c.history = {{"2024-01-02T03:04:05Z", "/bin/sh -c #(nop) ADD file", "", "", false},
               {"", "CMD []", "", "", true}};
  c.extra["moby.buildkit.buildinfo.v1"] = "abc";

  std::string text = c.to_json();
  auto back = layers::parse_image_config(text);
  REQUIRE(back);
  CHECK(*back == c);
  // An empty Cmd is not an absent Cmd: docker distinguishes them.
  CHECK(back->config.cmd.has_value());
  CHECK_FALSE(back->config.entrypoint->empty());
  // Deterministic: serializing again gives the same bytes (and so the same digest).
  CHECK(back->to_json() == text);
}

TEST_CASE("image: docker's JSON shapes are read", "[layers][image]") {
  const std::string text = R"({
    "architecture": "arm64", "variant": "v8", "os": "linux",
    "config": {"Env": ["A=1"], "Cmd": null, "Entrypoint": ["/e"], "ExposedPorts": {"8080/tcp": {}},
               "Volumes": null, "Labels": null, "Hostname": "x"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:)" + kHexA + R"("]},
    "history": [{"created_by": "x", "empty_layer": true}]
  })";
  auto c = layers::parse_image_config(text);
  REQUIRE(c);
  CHECK(c->architecture == "arm64");
  CHECK(c->variant == "v8");
  CHECK_FALSE(c->config.cmd);
  CHECK(c->config.entrypoint == std::vector<std::string>{"/e"});
  CHECK(c->config.exposed_ports == std::set<std::string>{"8080/tcp"});
  CHECK(c->config.extra["Hostname"] == "x");
  REQUIRE(c->diff_ids.size() == 1);
  CHECK(c->history.at(0).empty_layer);
}

TEST_CASE("image: hostile configs are refused naming the field", "[layers][image]") {
  auto [text, fragment] = GENERATE(table<std::string, std::string>({
      {"", "not valid JSON"},
      {"[1]", "not a JSON object"},
      {R"({"config": {"Env": "A=1"}})", "config.Env: want an array of strings"},
      {R"({"config": {"Cmd": [1]}})", "config.Cmd: want an array of strings"},
      {R"({"config": []})", "config: want an object"},
      {R"({"rootfs": {"type": "layers", "diff_ids": ["sha256:../x"]}})", "rootfs.diff_ids[0]"},
      {R"({"rootfs": {"type": "other"}})", "rootfs.type"},
      {R"({"history": [{"empty_layer": "yes"}]})", "history[0].empty_layer"},
      {R"({"config": {"Healthcheck": {"Retries": -1}}})", "Healthcheck.Retries"},
  }));
  CAPTURE(text);
  auto c = layers::parse_image_config(text, "config X");
  REQUIRE_FALSE(c);
  CHECK(c.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(c.error().message(), Catch::Contains(fragment));
}

TEST_CASE("image: size limits apply before parsing", "[layers][image]") {
  std::string huge = "{\"a\":\"" + std::string(layers::kMaxManifestBytes, 'x') + "\"}";
  auto m = layers::parse_manifest(huge);
  REQUIRE_FALSE(m);
  CHECK_THAT(m.error().message(), Catch::Contains("over the limit"));
}

TEST_CASE("image: manifests and indexes in both flavors", "[layers][image]") {
  layers::Manifest m;
  m.config = {std::string(layers::media_type::kOciConfig), *layers::Digest::from_hex(kHexA), 10};
  m.layers.push_back(
      {std::string(layers::media_type::kOciLayerGzip), *layers::Digest::from_hex(kHexB), 20});
  auto back = layers::parse_manifest(m.to_json());
  REQUIRE(back);
  CHECK(back->media_type == layers::media_type::kOciManifest);
  CHECK(back->config == m.config);
  CHECK(back->layers == m.layers);

  auto docker = m.converted(layers::Flavor::Docker);
  CHECK(docker.media_type == layers::media_type::kDockerManifest);
  CHECK(docker.config.media_type == layers::media_type::kDockerConfig);
  CHECK(docker.layers[0].media_type == layers::media_type::kDockerLayerGzip);
  auto docker_back = layers::parse_manifest(docker.to_json());
  REQUIRE(docker_back);
  CHECK(docker_back->converted(layers::Flavor::Oci).layers == m.layers);

  layers::Index index;
  layers::Descriptor d{std::string(layers::media_type::kOciManifest),
                       *layers::Digest::from_hex(kHexA), 100};
  d.platform = layers::Platform{"arm64", "linux", "v8", "", {}};
  d.annotations[std::string(layers::annotation::kRefName)] = "docker.io/library/x:1";
  index.manifests.push_back(d);
  auto index_back = layers::parse_index(index.to_json());
  REQUIRE(index_back);
  REQUIRE(index_back->manifests.size() == 1);
  CHECK(index_back->manifests[0] == d);
  CHECK(index_back->manifests[0].ref_name() == "docker.io/library/x:1");

  // A manifest where an index is expected (and the reverse) is refused.
  CHECK_FALSE(layers::parse_index(m.to_json()));
  CHECK_FALSE(layers::parse_manifest(index.to_json()));
}

TEST_CASE("image: descriptors are checked", "[layers][image]") {
  auto [text, fragment] = GENERATE(table<std::string, std::string>({
      {R"({"schemaVersion":2,"config":{"digest":"sha256:zz","size":1},"layers":[]})",
       "config.digest"},
      {R"({"schemaVersion":2,"config":{"size":1},"layers":[]})", "config.digest: missing"},
      {R"({"schemaVersion":2,"config":{"digest":"sha256:)" + kHexA +
           R"(","size":-1},"layers":[]})",
       "config.size: negative"},
      {R"({"schemaVersion":2,"config":{"digest":"sha256:)" + kHexA +
           R"(","size":1},"layers":[{"digest":"sha256:)" + kHexA + R"(","size":"1"}]})",
       "layers[0].size: want an integer"},
      {R"({"schemaVersion":1})", "schemaVersion"},
  }));
  CAPTURE(text);
  auto m = layers::parse_manifest(text, "manifest M");
  REQUIRE_FALSE(m);
  CHECK_THAT(m.error().message(), Catch::Contains(fragment));
}

TEST_CASE("image: platforms", "[layers][image]") {
  auto [text, ok, str] = GENERATE(table<std::string, bool, std::string>({
      {"linux/amd64", true, "linux/amd64"},
      {"linux/arm64/v8", true, "linux/arm64/v8"},
      {"linux", false, ""},
      {"linux/", false, ""},
      {"linux/AMD64", false, ""},
      {"a/b/c/d", false, ""},
  }));
  CAPTURE(text);
  auto p = layers::Platform::parse(text);
  CHECK(bool(p) == ok);
  if (p) CHECK(p->str() == str);
  CHECK(layers::Platform::host().os == "linux");
  CHECK_FALSE(layers::Platform::host().architecture.empty());
}

TEST_CASE("image: RFC 3339 times", "[layers][image]") {
  CHECK(layers::format_rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(layers::format_rfc3339(1700000000) == "2023-11-14T22:13:20Z");
}
