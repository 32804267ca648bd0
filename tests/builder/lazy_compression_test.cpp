// A build stores its layers uncompressed; they are compressed when they leave the machine
// (push, an OCI layout), once per diff_id, to the same bytes in any store
// (layers/compressed_layers.h).

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace {

const std::vector<std::string> kEpoch = {"SOURCE_DATE_EPOCH=1700000000"};

nlohmann::json inspect(const hoist_test::HoistRunner& hoist, const std::string& name) {
  auto r = hoist.run({"inspect", name});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  return j[0];
}

// The digest after "pushed NAME@" in a build's progress.
std::string pushed_digest(const std::string& progress, const std::string& name) {
  const std::string marker = "pushed " + name + "@";
  size_t at = progress.find(marker);
  if (at == std::string::npos) return "";
  return progress.substr(at + marker.size(), 71);
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A store with busybox imported reproducibly, and a context with a file to COPY.
struct Builder {
  hoist_test::HoistRunner hoist;
  hoist_test::TempDir context{"hoist-lazy-ctx"};

  Builder() {
    auto imported = hoist.import_busybox("busybox:latest", kEpoch);
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
    std::string data;
    for (int i = 0; i < 4000; ++i) data += "line " + std::to_string(i) + " of a layer that compresses well\n";
    hoist_test::write_file(context / "data.txt", data);
    hoist_test::write_file(context / "Dockerfile", "FROM busybox:latest\nCOPY data.txt /\n");
  }

  hoist_test::RunResult build(const std::string& tag, const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"build", "--progress", "plain", "-t", tag};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(context.path());
    return hoist.run(args, "", kEpoch);
  }
};

}  // namespace

TEST_CASE("build: layers are stored uncompressed and pushed compressed, once, to the same digest from two stores",
          "[builder][push][compression]") {
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  const std::string name = registry.host() + "/hoist/lazy:v1";

  Builder one, two;
  std::string digests[2];
  for (int i = 0; i < 2; ++i) {
    const Builder& b = i == 0 ? one : two;
    auto built = b.build(name, {"--push"});
    INFO(built.err);
    REQUIRE(built.exit_code == 0);
    digests[i] = pushed_digest(built.err, name);
    REQUIRE(digests[i].starts_with("sha256:"));
  }
  // Two stores, the same diff_ids: the same compressed bytes, the same manifest.
  CHECK(digests[0] == digests[1]);

  // The store holds the built layer uncompressed: its digest is its diff_id.
  auto stored = inspect(one.hoist, name);
  const auto& layers = stored["Manifest"]["layers"];
  REQUIRE(layers.size() == 2);
  CHECK(layers[1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar");
  const std::string diff_id = stored["RootFS"]["Layers"][1];
  CHECK(layers[1]["digest"] == diff_id);
  CHECK(stored["Id"] != "");
  CHECK(digests[0] != stored["Descriptor"].value("digest", ""));

  // The registry has it gzip'd, with the same image id; it pulls and runs elsewhere.
  hoist_test::HoistRunner third;
  auto pulled = third.run({"pull", name});
  INFO(pulled.err);
  REQUIRE(pulled.exit_code == 0);
  auto remote = inspect(third, name);
  CHECK(remote["Id"] == stored["Id"]);
  CHECK(remote["Manifest"]["layers"][1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip");
  CHECK(remote["RootFS"]["Layers"][1] == diff_id);
  CHECK(third.run({"fsck"}).exit_code == 0);

  // Compressed once: the record is there, and a second push (another tag) reuses it, after a
  // prune too (the record and its blob live as long as an image lists the diff_id).
  const std::string record = one.hoist.root() + "/hoist-compressed/" + diff_id.substr(7) + ".gzip";
  const ino_t first = inode_of(record);
  REQUIRE(first != 0);
  REQUIRE(one.hoist.run({"prune"}).exit_code == 0);
  const std::string again = registry.host() + "/hoist/lazy:v2";
  REQUIRE(one.hoist.run({"tag", name, again}).exit_code == 0);
  auto pushed = one.hoist.run({"push", "-q", again});
  INFO(pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK_THAT(pushed.out, Catch::Contains(digests[0]));
  CHECK(inode_of(record) == first);

  // A record that does not check out is not trusted: the layer is compressed again.
  hoist_test::write_file(record, "{\"not\": \"a descriptor\"}");
  pushed = one.hoist.run({"push", "-q", again});
  INFO(pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK_THAT(pushed.out, Catch::Contains(digests[0]));
  CHECK_THAT(hoist_test::read_file(record), Catch::Contains("\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\""));

  // --compression picks how it leaves.
  const std::string zstd_name = registry.host() + "/hoist/lazy:zstd";
  REQUIRE(one.hoist.run({"tag", name, zstd_name}).exit_code == 0);
  pushed = one.hoist.run({"push", "--compression", "zstd", zstd_name});
  INFO(pushed.err);
  REQUIRE(pushed.exit_code == 0);
  REQUIRE(third.run({"pull", zstd_name}).exit_code == 0);
  CHECK(inspect(third, zstd_name)["Manifest"]["layers"][1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd");
  CHECK(one.hoist.run({"push", "--compression", "lzma", zstd_name}).exit_code == 2);
}

TEST_CASE("build: -o type=oci and --cache-to write compressed layers, as --compression says; the store's stay plain",
          "[builder][compression]") {
  Builder b;
  hoist_test::TempDir out("hoist-lazy-oci");
  auto [compression, media_type] = GENERATE(table<std::string, std::string>({
      {"gzip", "application/vnd.oci.image.layer.v1.tar+gzip"},
      {"zstd", "application/vnd.oci.image.layer.v1.tar+zstd"},
      {"none", "application/vnd.oci.image.layer.v1.tar"},
  }));
  CAPTURE(compression);
  const std::string dest = out / compression, cache = out / (compression + "-cache");
  auto built = b.build("lazy", {"--no-cache", "--compression", compression, "-o", "type=oci,dest=" + dest, "-o",
                                "type=image", "--cache-to", "type=local,dest=" + cache});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  // The first manifest of an OCI layout written by hoist.
  auto manifest_in = [](const std::string& layout) {
    auto index = nlohmann::json::parse(hoist_test::read_file(layout + "/index.json"));
    const std::string digest = index["manifests"][0]["digest"];
    return nlohmann::json::parse(hoist_test::read_file(layout + "/blobs/sha256/" + digest.substr(7)));
  };
  auto manifest = manifest_in(dest);
  CHECK(manifest["layers"][1]["mediaType"] == media_type);
  auto cache_manifest = manifest_in(cache);
  REQUIRE(cache_manifest["layers"].size() == 1);  // the COPY's
  CHECK(cache_manifest["layers"][0]["mediaType"] == media_type);
  CHECK(cache_manifest["layers"][0]["digest"] == manifest["layers"][1]["digest"]);
  auto stored = inspect(b.hoist, "lazy");
  CHECK(stored["Manifest"]["layers"][1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar");
  CHECK(manifest["config"]["digest"] == stored["Id"]);
}
