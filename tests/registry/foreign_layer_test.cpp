// Foreign (non-distributable) layers, as Docker treats them: push leaves them out (the
// manifest keeps their URLs), pull fetches them from those URLs when the registry lacks
// them, without the registry's credentials, and verifies them like any blob.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/test_image.h"
#include "tests/support/test_env.h"

using hoist_test::RegistryServer;
using hoist_test::TempDir;
using State = registry::TransferObserver::State;

namespace {

// A plain file server on 127.0.0.1 standing in for the place foreign layers live.
class LayerHost {
 public:
  LayerHost() {
    server_.Get("/layers/foreign.tar.gz",
                [this](const httplib::Request& req, httplib::Response& res) {
                  ++hits_;
                  if (req.has_header("Authorization")) ++with_authorization_;
                  std::lock_guard lock(mu_);
                  res.set_content(body_, "application/octet-stream");
                });
    server_.Get("/gone", [this](const httplib::Request&, httplib::Response& res) {
      ++gone_hits_;
      res.status = 404;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~LayerHost() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void serve(std::string body) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
  }
  int hits() const { return hits_; }
  int gone_hits() const { return gone_hits_; }
  int with_authorization() const { return with_authorization_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::string body_;
  std::atomic<int> hits_{0}, gone_hits_{0}, with_authorization_{0};
};

}  // namespace

TEST_CASE("foreign layers: push skips them, pull fetches them from their URLs and verifies them",
          "[registry][transfer][foreign][cli]") {
  // Basic auth, so a leaked Authorization header would show at the layer host.
  RegistryServer server({.auth = RegistryServer::Auth::Basic});
  REQUIRE(server.start_error() == "");
  LayerHost host;
  TempDir a;
  auto store = layers::Store::open(a.path());
  REQUIRE(store);
  auto image = registry_test::make_image(*store, "foreign", {2000, 3000});
  const layers::Descriptor local = image.layers[0];
  const layers::Descriptor foreign_blob = image.layers[1];
  const std::string foreign_bytes = *store->blobs().read_all(foreign_blob.digest, 1 << 20);
  host.serve(foreign_bytes);

  // A Docker manifest whose second layer is foreign, listing a dead URL first.
  auto manifest = layers::parse_manifest(
      *store->blobs().read_all(image.manifest.digest, layers::kMaxManifestBytes));
  REQUIRE(manifest);
  layers::Manifest docker = manifest->converted(layers::Flavor::Docker);
  docker.layers[1].media_type = std::string(layers::media_type::kDockerForeignLayerGzip);
  docker.layers[1].urls = {host.url("/gone"), host.url("/layers/foreign.tar.gz")};
  const std::string json = docker.to_json();
  layers::Descriptor top;
  top.media_type = docker.media_type;
  top.digest = *store->blobs().put_bytes(json);
  top.size = static_cast<int64_t>(json.size());

  const auto target = *registry::Reference::parse(server.host() + "/win/app:v1");
  registry::ClientOptions options;
  options.backoff = std::chrono::milliseconds(10);
  options.max_attempts = 2;
  options.credentials = registry::Credentials{"alice", "s3cret-pass", ""};
  registry::Client client(target.domain(), options);

  std::map<layers::Digest, State> last_state;
  registry::PushOptions push_options;
  push_options.observer.on_blob = [&](const layers::Descriptor& d, State s, uint64_t, std::string_view) {
    last_state[d.digest] = s;
  };
  auto pushed = registry::push(client, *store, target, top, push_options);
  INFO((pushed ? std::string() : pushed.error().describe()));
  REQUIRE(pushed);
  CHECK(*pushed == top.digest);
  CHECK(last_state[foreign_blob.digest] == State::Skipped);
  CHECK(last_state[local.digest] == State::Done);
  // The registry never received the foreign layer, only the manifest naming it.
  auto present = client.head_blob(target.path(), foreign_blob.digest);
  REQUIRE(present);
  CHECK_FALSE(present->has_value());
  CHECK(host.hits() == 0);

  SECTION("hoist push says it skipped the foreign layer, as docker push does") {
    TempDir docker_config;
    hoist_test::write_file(
        docker_config.path() + "/config.json",
        R"({"auths":{")" + server.host() + R"(":{"auth":"YWxpY2U6czNjcmV0LXBhc3M="}}})");
    REQUIRE(store->set_tag(target.str(), top));
    auto out = hoist_test::run("DOCKER_CONFIG=" + docker_config.path() + " " +
                               hoist_test::hoist_bin() + " --root " + a.path() + " push " +
                               target.str());
    INFO(out.output);
    CHECK(out.status == 0);
    CHECK_THAT(out.output,
               Catch::Contains(foreign_blob.digest.short_id() + ": Skipped foreign layer") &&
                   Catch::Contains("@" + top.digest.str()));
    CHECK(host.hits() == 0);
  }

  TempDir b;
  auto store_b = layers::Store::open(b.path());
  SECTION("pull fetches it from the first URL that serves it") {
    auto pulled = registry::pull(client, *store_b, target);
    REQUIRE(pulled);
    CHECK(pulled->image.digest == top.digest);
    CHECK(store_b->blobs().verify(foreign_blob.digest));
    CHECK(store_b->blobs().verify(local.digest));
    CHECK(host.gone_hits() == 1);
    CHECK(host.hits() == 1);
    CHECK(host.with_authorization() == 0);
  }

  SECTION("bytes that do not match the digest never land, and the error names the layer") {
    std::string corrupt = foreign_bytes;
    corrupt[corrupt.size() / 2] ^= 0x5a;
    host.serve(corrupt);
    auto pulled = registry::pull(client, *store_b, target);
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind() == layers::ErrorKind::Corrupt);
    CHECK_THAT(pulled.error().describe(),
               Catch::Contains("foreign layer " + foreign_blob.digest.str()));
    CHECK_FALSE(store_b->blobs().has(foreign_blob.digest));
    CHECK_FALSE(store_b->find_tag(target.str()));
  }

  SECTION("only http and https URLs are used") {
    layers::Descriptor odd = foreign_blob;
    odd.urls = {"ftp://127.0.0.1/layer.tar.gz", "file:///etc/passwd"};
    auto r = client.fetch_foreign_blob(odd, store_b->blobs());
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
    CHECK_THAT(r.error().describe(),
               Catch::Contains("foreign layer " + foreign_blob.digest.str()) &&
                   Catch::Contains("not an http or https URL"));
    CHECK(host.hits() == 0);
    odd.urls.clear();
    auto none = client.fetch_foreign_blob(odd, store_b->blobs());
    REQUIRE_FALSE(none);
    CHECK(none.error().kind() == layers::ErrorKind::NotFound);
  }
}
