// Pull and push against a real docker-registry on 127.0.0.1, checked with skopeo and umoci.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <set>

#include "layers/compress.h"
#include "layers/compressed_layers.h"
#include "layers/digest.h"
#include "layers/direct_io.h"
#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"
#include "tests/registry/debug_lines.h"
#include "tests/registry/test_image.h"
#include "tests/support/test_env.h"

using hoist_test::RegistryServer;
using hoist_test::run;
using hoist_test::TempDir;
using registry_test::parse_ref;
using hoist_test::hoist_bin;

namespace {

registry::ClientOptions fast_options() {
  registry::ClientOptions o;
  o.backoff = std::chrono::milliseconds(20);
  return o;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("push then pull round-trips an image through docker-registry", "[registry][transfer]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store_a = layers::Store::open(a.path());
  auto store_b = layers::Store::open(b.path());
  REQUIRE(store_a);
  REQUIRE(store_b);
  // Two small layers and one above the chunk size, so PATCH uploads are exercised.
  auto image = registry_test::make_image(*store_a, "round trip", {1000, 5000, 300000});
  const auto target = parse_ref(server.host() + "/team/app:v1");

  auto options = fast_options();
  options.chunk_size = 64 << 10;
  registry::Client client(target.domain(), options);
  auto pushed = registry::push(client, *store_a, target, image.manifest);
  REQUIRE(pushed);
  CHECK(*pushed == image.manifest.digest);

  auto raw =
      run("skopeo inspect --raw --tls-verify=false docker://" + server.host() + "/team/app:v1");
  REQUIRE(raw.status == 0);
  CHECK(layers::Digest::of(raw.output) == image.manifest.digest);

  auto pulled = registry::pull(client, *store_b, target);
  REQUIRE(pulled);
  CHECK(pulled->digest == image.manifest.digest);
  CHECK(pulled->name == target.str());
  CHECK_FALSE(pulled->was_up_to_date);
  for (const auto& l : image.layers) CHECK(store_b->blobs().verify(l.digest));
  auto tagged = store_b->find_tag(target.str());
  REQUIRE(tagged);
  CHECK(tagged->digest == image.manifest.digest);

  SECTION("a second push skips every blob and a second pull downloads nothing") {
    int uploaded = 0;
    registry::PushOptions push_options;
    push_options.observer.on_blob = [&](const layers::Descriptor&,
                                        registry::TransferObserver::State s, uint64_t, std::string_view) {
      if (s == registry::TransferObserver::State::Done) ++uploaded;
    };
    REQUIRE(registry::push(client, *store_a, target, image.manifest, push_options));
    CHECK(uploaded == 0);
    auto again = registry::pull(client, *store_b, target);
    REQUIRE(again);
    CHECK(again->was_up_to_date);
  }

  SECTION("pull by digest verifies and tags name@digest") {
    auto by_digest = parse_ref(server.host() + "/team/app@" + image.manifest.digest.str());
    TempDir c;
    auto store_c = layers::Store::open(c.path());
    auto pulled_c = registry::pull(client, *store_c, by_digest);
    REQUIRE(pulled_c);
    CHECK(store_c->find_tag(by_digest.str()));
  }

  SECTION("a missing tag is NotFound naming the repository") {
    auto missing = registry::pull(client, *store_b, parse_ref(server.host() + "/team/app:nope"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind() == layers::ErrorKind::NotFound);
    CHECK_THAT(missing.error().describe(), Catch::Contains(server.host() + "/team/app"));
  }

  SECTION("a blob present in another repository is mounted, not uploaded") {
    // store_b has the image tagged as HOST/team/app:v1; pushing it to another repository
    // of the same registry should mount every layer.
    auto other = parse_ref(server.host() + "/team/copy:v1");
    int mounted = 0, uploaded = 0;
    registry::PushOptions push_options;
    push_options.observer.on_blob = [&](const layers::Descriptor&,
                                        registry::TransferObserver::State s, uint64_t, std::string_view) {
      if (s == registry::TransferObserver::State::Mounted) ++mounted;
      if (s == registry::TransferObserver::State::Done) ++uploaded;
    };
    REQUIRE(registry::push(client, *store_b, other, image.manifest, push_options));
    CHECK(mounted == static_cast<int>(image.layers.size()) + 1);  // layers and config
    CHECK(uploaded == 0);
  }
}

TEST_CASE("hoist push, then skopeo copies it out and umoci unpacks it",
          "[registry][transfer][cli]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, out;
  auto store_a = layers::Store::open(a.path());
  REQUIRE(store_a);
  auto image = registry_test::make_image(*store_a, "for umoci", {2000});
  const auto target = parse_ref(server.host() + "/cli/app:v2");
  REQUIRE(store_a->set_tag(target.str(), image.manifest));

  auto pushed = run(hoist_bin() + " --root " + a.path() + " push " + server.host() + "/cli/app:v2");
  INFO(pushed.output);
  REQUIRE(pushed.status == 0);
  CHECK_THAT(pushed.output,
             Catch::Contains(server.host() + "/cli/app@" + image.manifest.digest.str()));

  auto copied = run("skopeo copy --src-tls-verify=false docker://" + server.host() +
                    "/cli/app:v2 oci:" + out.path() + "/oci:v2");
  INFO(copied.output);
  REQUIRE(copied.status == 0);
  auto unpacked = run("cd " + out.path() + " && umoci unpack --rootless --image oci:v2 bundle");
  INFO(unpacked.output);
  REQUIRE(unpacked.status == 0);
  CHECK(hoist_test::read_file(out.path() + "/bundle/rootfs/data/seed.txt") ==
        "for umoci layer 0\n");
}

TEST_CASE("an image skopeo copied into the registry is pulled by hoist pull",
          "[registry][transfer][cli]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store_a = layers::Store::open(a.path());
  REQUIRE(store_a);
  auto image = registry_test::make_image(*store_a, "from skopeo", {1500, 2500});
  REQUIRE(store_a->set_tag("docker.io/library/src:v1", image.manifest));

  auto copied = run("skopeo copy --dest-tls-verify=false oci:" + a.path() +
                    ":docker.io/library/src:v1 docker://" + server.host() + "/copied/app:v3");
  INFO(copied.output);
  REQUIRE(copied.status == 0);
  auto raw =
      run("skopeo inspect --raw --tls-verify=false docker://" + server.host() + "/copied/app:v3");
  REQUIRE(raw.status == 0);

  auto pulled =
      run(hoist_bin() + " --root " + b.path() + " pull " + server.host() + "/copied/app:v3");
  INFO(pulled.output);
  REQUIRE(pulled.status == 0);
  CHECK_THAT(pulled.output, Catch::Contains("Digest: " + layers::Digest::of(raw.output).str()));
  CHECK(trim(pulled.output).ends_with(server.host() + "/copied/app:v3"));
  auto store_b = layers::Store::open(b.path());
  auto tagged = store_b->find_tag(server.host() + "/copied/app:v3");
  REQUIRE(tagged);
  CHECK(tagged->digest == layers::Digest::of(raw.output));
  for (const auto& l : image.layers) CHECK(store_b->blobs().has(l.digest));
}

TEST_CASE("a multi-platform index: pull picks the host's platform, --platform the other",
          "[registry][transfer][platform]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store_a = layers::Store::open(a.path());
  const auto host = layers::Platform::host();
  const std::string other_arch = host.architecture == "arm64" ? "amd64" : "arm64";
  auto native = registry_test::make_image(*store_a, "native", {1000}, host.architecture);
  auto foreign = registry_test::make_image(*store_a, "foreign", {1000}, other_arch);
  auto index = registry_test::make_index(*store_a, {native, foreign});
  const auto target = parse_ref(server.host() + "/multi/app:latest");
  registry::Client client(target.domain(), fast_options());
  auto pushed = registry::push(client, *store_a, target, index);
  REQUIRE(pushed);
  CHECK(*pushed == index.digest);

  // (GENERATE values are fixed on the first run, and each run makes new images: so the
  // table says which image, not its digest.)
  auto [platform, wants_foreign] = GENERATE_COPY(table<std::string, bool>({
      {"", false},
      {"linux/" + other_arch, true},
  }));
  CAPTURE(platform);
  const layers::Digest expected = wants_foreign ? foreign.manifest.digest : native.manifest.digest;
  TempDir b;
  auto store_b = layers::Store::open(b.path());
  registry::PullOptions options;
  if (!platform.empty()) options.platform = *layers::Platform::parse(platform);
  auto pulled = registry::pull(client, *store_b, target, options);
  REQUIRE(pulled);
  CHECK(pulled->digest == index.digest);
  CHECK(pulled->image.digest == expected);
  CHECK(store_b->find_tag(target.str())->digest == expected);

  SECTION("a platform the index lacks is NotFound listing what it offers") {
    registry::PullOptions s390;
    s390.platform = *layers::Platform::parse("linux/s390x");
    auto missing = registry::pull(client, *store_b, target, s390);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind() == layers::ErrorKind::NotFound);
    CHECK_THAT(missing.error().describe(), Catch::Contains("linux/" + other_arch));
  }
}

TEST_CASE("a layer stored uncompressed is compressed as it is pushed, once", "[registry][transfer][compress_push]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store_a = layers::Store::open(a.path());
  auto store_b = layers::Store::open(b.path());
  REQUIRE(store_a);
  REQUIRE(store_b);
  // Plain tar layers, as a build stores them; the big one goes up in many PATCH chunks.
  auto image = registry_test::make_image(*store_a, "built", {1000, 3 << 20}, "amd64", /*gzip=*/false);
  const auto target = parse_ref(server.host() + "/team/built:v1");
  auto options = fast_options();
  options.chunk_size = 64 << 10;
  registry_test::DebugLines debug;
  options.debug_log = debug.sink();
  registry::Client client(target.domain(), options);
  registry::PushOptions push_options;
  push_options.compression = layers::Compression::Gzip;
  std::set<std::string> shown;
  push_options.observer.on_blob = [&](const layers::Descriptor& d, registry::TransferObserver::State s, uint64_t,
                                      std::string_view) {
    if (s == registry::TransferObserver::State::Done) shown.insert(d.digest.str());
  };
  auto pushed = registry::push(client, *store_a, target, image.manifest, push_options);
  REQUIRE(pushed);
  CHECK(*pushed != image.manifest.digest);
  // Progress names each layer by its uncompressed digest (its diff_id), as docker push does.
  for (const auto& l : image.layers) CHECK(shown.count(l.digest.str()) == 1);
  CHECK(debug.count("as it was compressed") == 2);
  // Each layer went up in one PATCH that followed the compressor (chunked transfer
  // encoding), then its PUT, whatever chunk_size says.
  CHECK(debug.count("PATCH ") == 2);

  // What the registry holds is the compressed image the store now remembers.
  auto sent = layers::compressed_image(*store_a, image.manifest, layers::Compression::Gzip);
  REQUIRE(sent);
  CHECK(sent->digest == *pushed);
  auto raw = run("skopeo inspect --raw --tls-verify=false docker://" + server.host() + "/team/built:v1");
  REQUIRE(raw.status == 0);
  CHECK(layers::Digest::of(raw.output) == *pushed);
  auto manifest = layers::parse_manifest(raw.output);
  REQUIRE(manifest);
  REQUIRE(manifest->layers.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(manifest->layers[i].media_type == layers::media_type::kOciLayerGzip);
    auto remembered = layers::compressed_layer(*store_a, image.layers[i], layers::Compression::Gzip);
    REQUIRE(remembered);
    CHECK(*remembered == manifest->layers[i]);
  }

  // Pulled elsewhere, the layers decompress to the diff_ids the config lists.
  auto pulled = registry::pull(client, *store_b, target);
  REQUIRE(pulled);
  for (size_t i = 0; i < 2; ++i) {
    auto fd = store_b->blobs().open_read(manifest->layers[i].digest);
    REQUIRE(fd);
    layers::Sha256 plain;
    REQUIRE(layers::decompress(fd->get(), [&](std::span<const std::byte> data) -> layers::Result<void> {
      plain.update(data);
      return {};
    }));
    CHECK(plain.finish() == image.layers[i].digest);
  }

  SECTION("a second push compresses and uploads nothing") {
    debug.clear();
    int uploaded = 0;
    push_options.observer.on_blob = [&](const layers::Descriptor&, registry::TransferObserver::State s, uint64_t,
                                        std::string_view) {
      if (s == registry::TransferObserver::State::Done) ++uploaded;
    };
    auto again = registry::push(client, *store_a, target, image.manifest, push_options);
    REQUIRE(again);
    CHECK(*again == *pushed);
    CHECK(uploaded == 0);
    CHECK(debug.count("as it was compressed") == 0);
  }
}

TEST_CASE("a blob read past the page cache goes up whole, in chunks at any offset", "[registry][transfer][compress_push]") {
  // A push reads a layer compressed as it pushes past the cache (O_DIRECT: page-aligned
  // reads), from any offset its chunks start at.
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store = layers::Store::open(a.path());
  REQUIRE(store);
  std::string data;
  for (size_t i = 0; data.size() < (size_t(3) << 20) + 12345; ++i) data += std::to_string(i * 7919) + "\n";
  auto digest = store->blobs().put_bytes(data);
  REQUIRE(digest);
  auto fd = store->blobs().open_read(*digest);
  REQUIRE(fd);
  if (!layers::set_direct_io(fd->get(), true)) HOIST_SKIP("the temp dir's filesystem has no direct I/O");
  auto options = fast_options();
  options.chunk_size = GENERATE(uint64_t(100000), uint64_t(1) << 20);
  CAPTURE(options.chunk_size);
  const auto target = parse_ref(server.host() + "/team/direct:v1");
  registry::Client client(target.domain(), options);
  uint64_t last = 0;
  REQUIRE(client.upload_blob(target.path(), *digest, int64_t(data.size()), fd->get(), [&](uint64_t done) { last = done; }));
  CHECK(last == data.size());
  // The registry took it under its digest, which it checks.
  auto size = client.head_blob(target.path(), *digest);
  REQUIRE(size);
  REQUIRE(*size);
  CHECK(**size == int64_t(data.size()));
}

TEST_CASE("pull with unpack: each layer is unpacked as it downloads, checked by its diff_id",
          "[registry][transfer][pull_unpack]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b, c;
  auto store_a = layers::Store::open(a.path());
  REQUIRE(store_a);
  // One layer of several chunks of the socket's buffer, one small.
  auto image = registry_test::make_image(*store_a, "unpacked", {3 << 20, 1000});
  const auto target = parse_ref(server.host() + "/team/unpack:v1");
  registry::Client client(target.domain(), fast_options());
  REQUIRE(registry::push(client, *store_a, target, image.manifest));
  auto loaded = store_a->load_image(image.manifest);
  REQUIRE(loaded);
  const layers::ImageConfig* config = &loaded->config;
  REQUIRE(config->diff_ids.size() == 2);

  auto store_b = layers::Store::open(b.path());
  registry::PullOptions unpack;
  unpack.unpack = true;
  REQUIRE(registry::pull(client, *store_b, target, unpack));
  for (size_t i = 0; i < 2; ++i) {
    const std::string dir = store_b->unpacked_path(config->diff_ids[i]);
    CAPTURE(i, dir);
    // The seed file each layer holds (tests/registry/test_image.h).
    CHECK(hoist_test::read_file(dir + "/data/seed.txt") == "unpacked layer " + std::to_string(i) + "\n");
  }
  for (const auto& entry : std::filesystem::directory_iterator(store_b->unpacked_dir()))
    CHECK_FALSE(entry.path().filename().string().starts_with(".tmp-"));

  // Without the option, a pull leaves the layers packed (they are unpacked at first use).
  auto store_c = layers::Store::open(c.path());
  REQUIRE(registry::pull(client, *store_c, target));
  for (const auto& d : config->diff_ids) CHECK_FALSE(std::filesystem::exists(store_c->unpacked_path(d)));
}
