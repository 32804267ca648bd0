// A stage of FROM, COPY, WORKDIR and metadata never unpacks its base: COPY reads the base
// layers' indexes (layers/layer_index.h). Its layers are the same as when the base is
// unpacked, byte for byte: the same Dockerfile is built both ways and the digests compared.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "layers/layer_entries.h"
#include "layers/store.h"
#include "runtime/layer_dirs.h"
#include "tests/builder/build_fixture.h"
#include "tests/support/hostile_layers.h"

using build_test::BuildFixture;
namespace fs = std::filesystem;

namespace {

// base:latest = busybox + a layer with a symlinked directory, a directory owned by
// www-data, whiteouts of /home and /etc/hosts, and a file whose parents the tar leaves out.
layers::Image make_base(const std::string& root) {
  auto store = layers::Store::open(root);
  REQUIRE(store);
  auto busybox = store->find_tag("docker.io/library/busybox:latest");
  REQUIRE(busybox);
  auto image = store->load_image(*busybox);
  REQUIRE(image);
  const std::string tar = hoist_test::TarWriter()
                              .dir("real", 0755)
                              .symlink("link", "/real")
                              .dir("srv", 0750, 33, 33)
                              .file(".wh.home", "")
                              .file("etc/.wh.hosts", "")
                              .file("opt/implicit/keep", "")
                              .finish();
  auto digest = store->blobs().put_bytes(tar);
  REQUIRE(digest);
  auto config = image->config;
  config.diff_ids.push_back(layers::Digest::of(tar));
  config.history.push_back({"", "test layer", "", "", false});
  auto layers = image->manifest.layers;
  layers.push_back({std::string(layers::media_type::kOciLayer), *digest, int64_t(tar.size())});
  auto put = store->put_image(config, layers);
  REQUIRE(put);
  REQUIRE(store->set_tag("docker.io/library/base:latest", *put));
  auto base = store->load_image(*put);
  REQUIRE(base);
  return *base;
}

std::vector<std::string> layer_digests(const BuildFixture& f, const std::string& tag) {
  auto r = f.hoist().run({"inspect", tag});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  if (j.is_array()) j = j.at(0);
  std::vector<std::string> out;
  for (const auto& layer : j.at("Manifest").at("layers")) out.push_back(layer.at("digest"));
  return out;
}

std::map<std::string, layers::LayerEntry> entries_of(const std::string& root, const std::string& digest) {
  auto store = layers::Store::open(root);
  REQUIRE(store);
  auto d = layers::Digest::parse(digest);
  REQUIRE(d);
  auto fd = store->blobs().open_read(*d);
  REQUIRE(fd);
  std::map<std::string, layers::LayerEntry> out;
  auto walked = layers::for_each_layer_entry(fd->get(), false, [&](const layers::LayerEntry& e) -> layers::Result<void> {
    out.emplace(e.path, e);
    return {};
  });
  REQUIRE(walked);
  return out;
}

const char* kCopyIndexDockerfile =
    "FROM base\n"
    "WORKDIR /work/dir\n"
    "COPY a.txt ./\n"
    "COPY --chown=www-data:www-data a.txt /srv/sub/\n"
    "COPY a.txt /link/\n"
    "COPY a.txt /home/again/\n"
    "COPY a.txt /etc/hosts\n"
    "COPY a.txt /bin/\n"
    "WORKDIR /link/wd\n";

}  // namespace

TEST_CASE("COPY without RUN leaves the base packed, and makes the layers an unpacked base makes",
          "[builder][copy][copy-index]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("unpacking the base for the comparison needs root (overlay whiteouts)");
  }
  BuildFixture f;
  const auto base = make_base(f.hoist().root());
  f.write("a.txt", "a\n");
  auto cold = f.build(kCopyIndexDockerfile, "cold", {"--reproducible"});
  INFO(cold.err);
  REQUIRE(cold.exit_code == 0);
  CHECK(build_test::count_lines_with(cold.err + cold.out, "unpacked") == 0);
  auto store = layers::Store::open(f.hoist().root());
  REQUIRE(store);
  for (size_t i = 0; i < base.config.diff_ids.size(); ++i) {
    CAPTURE(i);
    CHECK(!fs::exists(store->unpacked_path(base.config.diff_ids[i])));
    CHECK(fs::exists(f.hoist().root() + "/hoist-index/" + std::string(base.manifest.layers[i].digest.hex())));
  }
  const auto from_index = layer_digests(f, "cold");
  REQUIRE(from_index.size() == base.manifest.layers.size() + 8);  // 2 WORKDIR and 6 COPY

  // What the layers hold: parents keep the base's metadata, names come from its passwd.
  const auto srv = entries_of(f.hoist().root(), from_index.at(base.manifest.layers.size() + 2));
  REQUIRE(srv.count("srv"));
  CHECK(srv.at("srv").mode == (S_IFDIR | 0750));
  CHECK(srv.at("srv").uid == 33);
  REQUIRE(srv.count("srv/sub/a.txt"));
  CHECK(srv.at("srv/sub/a.txt").uid == 33);
  CHECK(srv.at("srv/sub/a.txt").gid == 33);
  const auto workdir = entries_of(f.hoist().root(), from_index.at(base.manifest.layers.size()));
  CHECK(workdir.count("work/dir"));
  // Symlinks in the destination are followed inside the image, the link kept.
  const auto link = entries_of(f.hoist().root(), from_index.at(base.manifest.layers.size() + 3));
  CHECK(link.count("real/a.txt"));
  CHECK(!link.count("link"));
  const auto linked_workdir = entries_of(f.hoist().root(), from_index.back());
  CHECK(linked_workdir.count("real/wd"));
  CHECK(!linked_workdir.count("link"));

  // The same build over the base unpacked (as a RUN would leave it): the same layers.
  REQUIRE(runtime::view_of(*store, base.manifest.layers, base.config.diff_ids));
  for (const auto& diff_id : base.config.diff_ids) CHECK(fs::exists(store->unpacked_path(diff_id)));
  auto warm = f.build(kCopyIndexDockerfile, "warm", {"--reproducible", "--no-cache"});
  INFO(warm.err);
  REQUIRE(warm.exit_code == 0);
  CHECK(layer_digests(f, "warm") == from_index);
}

TEST_CASE("COPY into parents the base's tar leaves out: the same layer whether the base was indexed or unpacked",
          "[builder][copy][copy-index]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("unpacking the base for the comparison needs root (overlay whiteouts)");
  }
  // Without --reproducible: the COPY layer carries /opt and /opt/implicit with the base's
  // times, which must not be the time the base was unpacked.
  BuildFixture f;
  const auto base = make_base(f.hoist().root());
  f.write("a.txt", "a\n");
  const std::string dockerfile = "FROM base\nCOPY a.txt /opt/implicit/\n";
  auto cold = f.build(dockerfile, "cold");
  INFO(cold.err);
  REQUIRE(cold.exit_code == 0);
  CHECK(build_test::count_lines_with(cold.err + cold.out, "unpacked") == 0);
  const auto from_index = layer_digests(f, "cold");
  const auto copied = entries_of(f.hoist().root(), from_index.back());
  for (const char* parent : {"opt", "opt/implicit"}) {
    CAPTURE(parent);
    REQUIRE(copied.count(parent));
    CHECK(copied.at(parent).mtime_sec == 0);
  }

  auto store = layers::Store::open(f.hoist().root());
  REQUIRE(store);
  REQUIRE(runtime::view_of(*store, base.manifest.layers, base.config.diff_ids));
  auto warm = f.build(dockerfile, "warm", {"--no-cache"});
  INFO(warm.err);
  REQUIRE(warm.exit_code == 0);
  CHECK(layer_digests(f, "warm") == from_index);
}

TEST_CASE("COPY without RUN: -o type=local and COPY --from still see the whole filesystem",
          "[builder][copy][copy-index]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  const std::string dockerfile =
      "FROM busybox AS first\n"
      "COPY a.txt /first/\n"
      "FROM busybox\n"
      "COPY --from=first /first/a.txt /etc/passwd /copied/\n";
  const std::string rootfs = f.rootfs(dockerfile);
  CHECK(hoist_test::read_file(rootfs + "/copied/a.txt") == "a\n");
  CHECK_THAT(hoist_test::read_file(rootfs + "/copied/passwd"), Catch::Contains("www-data"));
  CHECK(fs::exists(rootfs + "/bin/busybox"));
  auto store = layers::Store::open(f.hoist().root());
  REQUIRE(store);
  auto busybox = store->find_tag("docker.io/library/busybox:latest");
  REQUIRE(busybox);
  auto image = store->load_image(*busybox);
  REQUIRE(image);
  CHECK(!fs::exists(store->unpacked_path(image->config.diff_ids.at(0))));
}
