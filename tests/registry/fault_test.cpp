// Faults between hoist and a real registry (tests/registry/fault_proxy.h): retries succeed
// where they should, corruption is caught by digest verification, and no bad blob ever
// lands in the store.

#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>

#include "layers/compressed_layers.h"
#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/registry/fault_proxy.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/debug_lines.h"
#include "tests/registry/test_image.h"

using registry_test::FaultProxy;
using hoist_test::RegistryServer;
using hoist_test::TempDir;
using Fault = FaultProxy::Fault;

namespace {

registry::ClientOptions fast_options() {
  registry::ClientOptions o;
  o.backoff = std::chrono::milliseconds(10);
  o.max_attempts = 4;
  return o;
}

// Pushes `image` from `store` through `proxy` as NAME:v1, gzip-compressing its layers as
// they go up, one blob at a time, with the client's --debug lines in `debug`.
layers::Result<layers::Digest> push_compressing(const FaultProxy& proxy, const std::string& name,
                                                const layers::Store& store, const registry_test::TestImage& image,
                                                registry_test::DebugLines& debug) {
  const auto through = *registry::Reference::parse(proxy.host() + "/faulty/" + name + ":v1");
  auto options = fast_options();
  options.chunk_size = 64 << 10;  // the finished blob's second try goes up in chunks
  options.debug_log = debug.sink();
  registry::Client client(through.domain(), options);
  registry::PushOptions push_options;
  push_options.compression = layers::Compression::Gzip;
  push_options.parallel = 1;
  return registry::push(client, store, through, image.manifest, push_options);
}

}  // namespace

TEST_CASE("pull through a faulty proxy: retries recover, corruption never lands",
          "[registry][faults]") {
  auto [fault, count, succeeds] = GENERATE(table<Fault, int, bool>({
      {Fault::Drop, 2, true},
      {Fault::Status500, 2, true},
      {Fault::Status429, 2, true},
      {Fault::Truncate, 2, true},
      {Fault::Corrupt, 1, true},
      {Fault::Corrupt, -1, false},
      {Fault::Status500, -1, false},
  }));
  CAPTURE(static_cast<int>(fault), count);
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store_a = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store_a, "faults", {200000});
  const auto upstream = *registry::Reference::parse(server.host() + "/faulty/app:v1");
  registry::Client direct(upstream.domain(), fast_options());
  REQUIRE(registry::push(direct, *store_a, upstream, image.manifest));

  // Faults only on the layer blob, so every other request goes through.
  const auto& layer = image.layers[0];
  FaultProxy proxy(server.port(), fault, count, "/blobs/" + layer.digest.str());
  const auto through = *registry::Reference::parse(proxy.host() + "/faulty/app:v1");
  registry::Client client(through.domain(), fast_options());
  auto store_b = layers::Store::open(b.path());
  registry::PullOptions unpack;  // layers unpacked as they download: best effort, never wrong
  unpack.unpack = true;
  auto pulled = registry::pull(client, *store_b, through, unpack);
  CHECK(proxy.faults_applied() > 0);
  if (succeeds) {
    REQUIRE(pulled);
    CHECK(store_b->blobs().verify(layer.digest));
  } else {
    REQUIRE_FALSE(pulled);
    CHECK_THAT(pulled.error().describe(), Catch::Contains(layer.digest.str()));
    if (fault == Fault::Corrupt) CHECK(pulled.error().kind() == layers::ErrorKind::Corrupt);
    CHECK_FALSE(store_b->blobs().has(layer.digest));
    CHECK_FALSE(store_b->find_tag(through.str()));
  }
  // Whatever happened, every blob in the store is what its name says.
  auto listing = store_b->blobs().list();
  REQUIRE(listing);
  CHECK(listing->strays.empty());
  for (const auto& d : listing->blobs) CHECK(store_b->blobs().verify(d));
  // And the unpacked layer, when the bytes that arrived made it, is the layer; a scratch
  // directory never stays.
  auto loaded = store_a->load_image(image.manifest);
  REQUIRE(loaded);
  const std::string unpacked = store_b->unpacked_path(loaded->config.diff_ids.at(0));
  if (std::filesystem::exists(unpacked))
    CHECK(hoist_test::read_file(unpacked + "/data/seed.txt") == "faults layer 0\n");
  if (std::filesystem::exists(store_b->unpacked_dir()))
    for (const auto& entry : std::filesystem::directory_iterator(store_b->unpacked_dir()))
      CHECK(entry.path() == unpacked);
}

TEST_CASE("push through a faulty proxy retries dropped and failed uploads", "[registry][faults]") {
  auto [fault, count] = GENERATE(table<Fault, int>({
      {Fault::Drop, 2},
      {Fault::Status500, 2},
      {Fault::Status429, 1},
  }));
  CAPTURE(static_cast<int>(fault), count);
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store_a = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store_a, "push faults", {50000});
  FaultProxy proxy(server.port(), fault, count, "/blobs/uploads/");
  const auto through = *registry::Reference::parse(proxy.host() + "/faulty/push:v1");
  registry::Client client(through.domain(), fast_options());
  auto pushed = registry::push(client, *store_a, through, image.manifest);
  REQUIRE(pushed);
  CHECK(proxy.faults_applied() == count);
  auto raw = hoist_test::run("skopeo inspect --raw --tls-verify=false docker://" +
                                server.host() + "/faulty/push:v1");
  REQUIRE(raw.status == 0);
  CHECK(layers::Digest::of(raw.output) == *pushed);
}

TEST_CASE("a layer compressed as it is pushed goes up again when that upload fails", "[registry][faults][compress_push]") {
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store_a = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store_a, "push faults", {1 << 20}, "amd64", /*gzip=*/false);
  // One blob at a time: the config (POST, PUT), then the layer: its POST, then the PATCH
  // that follows the compressor fails. That upload stops there, and the finished blob goes
  // up with upload_blob's retries.
  FaultProxy proxy(server.port(), Fault::Status500, 1, "/blobs/uploads/");
  proxy.skip_matches(3);
  registry_test::DebugLines debug;
  auto pushed = push_compressing(proxy, "built", *store_a, image, debug);
  REQUIRE(pushed);
  CHECK(proxy.faults_applied() == 1);
  CHECK(debug.count("again after") == 1);
  auto raw = hoist_test::run("skopeo inspect --raw --tls-verify=false docker://" + server.host() + "/faulty/built:v1");
  REQUIRE(raw.status == 0);
  CHECK(layers::Digest::of(raw.output) == *pushed);
  auto sent = layers::compressed_image(*store_a, image.manifest, layers::Compression::Gzip);
  REQUIRE(sent);
  CHECK(sent->digest == *pushed);
}

TEST_CASE("a registry that answers a streamed upload before reading it is an error, not a SIGPIPE",
          "[registry][faults][compress_push]") {
  // SIGPIPE keeps its default action here, which ends the process, as a program using the
  // library may leave it (the CLI ignores it): the sends into the closed connection must
  // come back as EPIPE, a Network error, and the push goes on with the finished blob.
  struct sigaction fatal {}, before {};
  fatal.sa_handler = SIG_DFL;
  REQUIRE(::sigaction(SIGPIPE, &fatal, &before) == 0);
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store_a = layers::Store::open(a.path());
  REQUIRE(store_a);
  // 8 MiB of noise: the PATCH following the compressor still sends after the proxy closed.
  auto image = registry_test::make_image(*store_a, "early reply", {8 << 20}, "amd64", /*gzip=*/false);
  // The config's POST and PUT, the layer's POST, then its streamed PATCH is answered early.
  FaultProxy proxy(server.port(), Fault::EarlyReply, 1, "/blobs/uploads/");
  proxy.skip_matches(3);
  registry_test::DebugLines debug;
  auto pushed = push_compressing(proxy, "early", *store_a, image, debug);
  ::sigaction(SIGPIPE, &before, nullptr);
  REQUIRE(pushed);
  CHECK(proxy.count_requests("PATCH") >= 1);
  CHECK(proxy.count_requests("early 500") == 1);
  CHECK(debug.count("again after") == 1);
  auto sent = layers::compressed_image(*store_a, image.manifest, layers::Compression::Gzip);
  REQUIRE(sent);
  CHECK(sent->digest == *pushed);
}
