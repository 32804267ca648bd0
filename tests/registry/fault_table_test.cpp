// The registry trust boundary, one row per fault x operation: `hoist pull`, `hoist push`
// and `hoist login` run (the real binary, HOIST_BIN) through a FaultProxy in front of a real
// docker-registry. After every row, whatever its outcome: `hoist fsck` is clean, the image
// the store held before is intact, a failed pull tagged nothing, and the same command
// succeeds once the proxy heals. HOIST_REGISTRY_TIMEOUT=2 keeps the stalls short.
// tests/hardening/registry.md lists the rows and their outcomes.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <future>
#include <memory>
#include <regex>
#include <vector>

#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/registry/fault_proxy.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/test_image.h"
#include "tests/support/test_env.h"

using registry_test::FaultProxy;
using hoist_test::RegistryServer;
using hoist_test::run;
using hoist_test::TempDir;
using Fault = FaultProxy::Fault;
using hoist_test::hoist_bin;

namespace {

// One registry for the whole table, holding:
//   table/base:v0   the image every row's store holds before the row ("earlier image")
//   table/app:v1    what the pull rows pull (two layers)
//   table/multi:v1  an index over app's manifest
//   table/lying:v1  an image whose config lists 2 diff_ids for 1 layer
// and a store template with base:v0 pulled, copied for every row.
struct Table {
  RegistryServer server{{}};
  TempDir source, template_root, docker_config;
  registry_test::TestImage app;
  std::string layer;  // app's larger layer digest
  std::string child;  // app's manifest digest, as the index names it

  Table() {
    if (!server.start_error().empty()) return;
    auto store = layers::Store::open(source.path());
    registry::ClientOptions o;
    o.backoff = std::chrono::milliseconds(10);
    registry::Client client(server.host(), o);
    auto base = registry_test::make_image(*store, "earlier", {3000});
    app = registry_test::make_image(*store, "table app", {2000, 300000});
    layer = app.layers[1].digest.str();
    child = app.manifest.digest.str();
    auto push = [&](const std::string& name, const layers::Descriptor& d) {
      auto ref = *registry::Reference::parse(server.host() + "/" + name);
      REQUIRE(registry::push(client, *store, ref, d));
    };
    push("table/base:v0", base.manifest);
    push("table/app:v1", app.manifest);
    push("table/multi:v1", registry_test::make_index(*store, {app}));
    layers::ImageConfig lying;
    lying.architecture = "amd64";
    lying.os = "linux";
    lying.diff_ids = {app.layers[0].digest, app.layers[0].digest};
    auto lying_image = store->put_image(lying, {app.layers[0]});
    REQUIRE(lying_image);
    push("table/lying:v1", *lying_image);
    auto pulled = run(env(template_root.path()) + hoist_bin() + " pull -q " + server.host() +
                      "/table/base:v0");
    REQUIRE(pulled.status == 0);
  }

  std::string env(const std::string& root) const {
    return "HOIST_ROOT=" + root + " DOCKER_CONFIG=" + docker_config.path() +
           " HOIST_REGISTRY_TIMEOUT=2 ";
  }
};

Table& table() {
  static Table t;
  return t;
}

// Replaces the `"size":N` that follows `digest` in a manifest.
void set_size_after(std::string& body, const std::string& digest, const std::string& size) {
  const size_t d = body.find(digest);
  REQUIRE(d != std::string::npos);
  // In a descriptor, "size" comes before or after "digest": take the nearest one.
  const std::regex re("\"size\":[0-9]+");
  size_t best = std::string::npos, best_len = 0, best_dist = std::string::npos;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), re); it != std::sregex_iterator();
       ++it) {
    size_t pos = static_cast<size_t>(it->position());
    size_t dist = pos > d ? pos - d : d - pos;
    if (dist < best_dist) best = pos, best_len = static_cast<size_t>(it->length()), best_dist = dist;
  }
  REQUIRE(best != std::string::npos);
  body.replace(best, best_len, "\"size\":" + size);
}

std::string layer_size_plus(int64_t delta) {
  return std::to_string(table().app.layers[1].size + delta);
}

}  // namespace

TEST_CASE("registry faults x pull, push, login: clear outcome, clean store, recovery",
          "[registry][faults][table]") {
  Table& t = table();
  REQUIRE(t.server.start_error() == "");
  struct Row {
    const char* op;       // pull, pull-index, pull-lying, push, login
    Fault fault;
    int count;            // faulty requests; -1: every one until healed
    std::string match;    // which requests (substring of the request line)
    std::string rewrite;  // Rewrite: "huge", "short", "long", "type"
    bool succeeds;
    std::string message;  // in the error (or "" when it succeeds)
  };
  const std::string blob = "/blobs/" + t.layer;
  const std::string manifest = "/manifests/v1";
  const std::vector<Row> rows = {
      // pull: connection faults are retried, resumed, or end in a clear error
      {"pull", Fault::Drop, 2, blob, "", true, ""},
      {"pull", Fault::Truncate, 2, blob, "", true, ""},  // cut mid-blob: resumed with Range
      {"pull", Fault::Corrupt, -1, blob, "", false, "failed digest verification"},
      {"pull", Fault::Status500, 2, manifest, "", true, ""},
      {"pull", Fault::Status429, 3, manifest, "", true, ""},
      {"pull", Fault::Status500, -1, manifest, "", false, "answered 500"},
      {"pull", Fault::EndlessBody, -1, manifest, "", false, "is larger than 4194304 bytes"},
      {"pull", Fault::EndlessError, -1, manifest, "", false, "answered 500"},
      {"pull", Fault::Oversized, -1, manifest, "", false, "is larger than 4194304 bytes"},
      {"pull", Fault::Stall, 1, blob, "", true, ""},
      {"pull", Fault::Slow, 1, blob, "", true, ""},
      {"pull", Fault::Slow, -1, manifest, "", false, "bytes in the last 2 s (too slow)"},
      {"pull", Fault::Rewrite, -1, manifest, "huge", false, "bytes free"},
      {"pull", Fault::Rewrite, -1, manifest, "short", false, "the manifest declares"},
      {"pull", Fault::Rewrite, -1, manifest, "long", false, "the manifest declares"},
      {"pull", Fault::Rewrite, -1, manifest, "type", false, "disagrees with the Content-Type"},
      {"pull-index", Fault::Status404, -1, "/manifests/sha256:", "", false, "not found"},
      {"pull-lying", Fault::None, 0, "", "", false, "lists 2 diff_ids, but the manifest has 1"},
      // push: lost uploads are retried or resumed
      {"push", Fault::CutBody, 2, "/blobs/uploads/", "", true, ""},
      {"push", Fault::CutBodyForwarded, 2, "/blobs/uploads/", "", true, ""},
      {"push", Fault::Status500, 2, "/blobs/uploads/", "", true, ""},
      {"push", Fault::Status429, 2, "/blobs/uploads/", "", true, ""},
      {"push", Fault::Status500, -1, "/blobs/uploads/", "", false, "answered 500"},
      {"push", Fault::Stall, 1, "PUT /v2/", "", true, ""},
      {"push", Fault::Slow, -1, "PUT /v2/", "", false, "no reply for 2 s"},
      // login: the /v2/ check
      {"login", Fault::Status500, 2, "/v2/ HTTP", "", true, ""},
      {"login", Fault::Status429, 2, "/v2/ HTTP", "", true, ""},
      {"login", Fault::EndlessError, -1, "/v2/ HTTP", "", false, "answered 500"},
      {"login", Fault::Stall, -1, "/v2/ HTTP", "", false, "no reply for 2 s"},
  };

  // Most rows wait out hoist's own limits: a 2 s stall per attempt, and 0.25 + 0.5 + 1 + 2 s
  // of back-off between five attempts. One after the other they took 80 s, nearly all of it
  // asleep, so every row's first command runs at once (each row has its own proxy, store and
  // repository) and the rows are then checked in order, on this thread.
  struct Case {
    const Row* row;
    TempDir root;
    std::unique_ptr<FaultProxy> proxy;
    std::string hoist, target, command;
    std::future<hoist_test::CommandResult> first;
  };
  std::vector<std::unique_ptr<Case>> cases;
  int pushes = 0;
  for (const Row& row : rows) {
    auto c = std::make_unique<Case>();
    c->row = &row;
    REQUIRE(run("cp -a " + t.template_root.path() + "/. " + c->root.path() + "/").status == 0);
    c->proxy = std::make_unique<FaultProxy>(t.server.port(), row.fault, row.count, row.match);
    FaultProxy& proxy = *c->proxy;
    if (row.rewrite == "huge") {
      proxy.set_rewrite([&t](std::string&, std::string& body) {
        set_size_after(body, t.layer, "1125899906842624");  // 1 PiB
      });
    } else if (row.rewrite == "short") {
      proxy.set_rewrite([&t](std::string&, std::string& body) {
        set_size_after(body, t.layer, layer_size_plus(-1));
      });
    } else if (row.rewrite == "long") {
      proxy.set_rewrite([&t](std::string&, std::string& body) {
        set_size_after(body, t.layer, layer_size_plus(10));
      });
    } else if (row.rewrite == "type") {
      proxy.set_rewrite([](std::string& head, std::string&) {
        const std::regex manifest_type("application/vnd\\.oci\\.image\\.manifest\\.v1\\+json");
        head = std::regex_replace(head, manifest_type, "application/vnd.oci.image.index.v1+json");
      });
    }
    const std::string op = row.op;
    c->hoist = t.env(c->root.path()) + hoist_bin();
    c->target = proxy.host() + "/table/" +
                (op == "pull-index"   ? "multi:v1"
                 : op == "pull-lying" ? "lying:v1"
                 // A repository of its own per push row: one the registry already holds
                 // every blob of would skip the uploads the fault targets.
                 : op == "push"       ? "pushed" + std::to_string(++pushes) + ":v1"
                                      : "app:v1");
    if (op == "push") {
      const std::string base = t.server.host() + "/table/base:v0 ";
      REQUIRE(run(c->hoist + " tag " + base + c->target).status == 0);
      c->command = c->hoist + " push -q " + c->target;
    } else if (op == "login") {
      c->command = c->hoist + " login -u alice -p pw " + proxy.host();
    } else {
      c->command = c->hoist + " pull -q " + c->target;
    }
    c->first = std::async(std::launch::async, run, c->command);
    cases.push_back(std::move(c));
  }

  for (auto& c : cases) {
    const Row& row = *c->row;
    const std::string op = row.op;
    FaultProxy& proxy = *c->proxy;
    CAPTURE(row.op, static_cast<int>(row.fault), row.count, row.match, row.rewrite);
    auto first = c->first.get();
    INFO(first.output);
    if (row.fault != Fault::None) CHECK(proxy.faults_applied() > 0);
    if (row.succeeds) {
      CHECK(first.status == 0);
    } else {
      CHECK(first.status == 1);
      CHECK_THAT(first.output, Catch::Contains(row.message));
      CHECK_THAT(first.output, Catch::Contains(proxy.host()) || Catch::Contains("sha256:"));
      if (op != "push" && op != "login")
        CHECK(run(c->hoist + " inspect " + c->target + " >/dev/null 2>&1").status != 0);
    }
    if (row.rewrite == "huge") CHECK(proxy.count_requests("/blobs/") == 0);  // refused up front

    auto fsck = run(c->hoist + " fsck 2>&1");
    INFO(fsck.output);
    CHECK(fsck.status == 0);
    CHECK(run(c->hoist + " inspect " + t.server.host() + "/table/base:v0 >/dev/null").status == 0);

    if (row.fault != Fault::None) {
      proxy.heal();
      auto again = run(c->command + " 2>&1");
      INFO(again.output);
      CHECK(again.status == 0);
      CHECK(run(c->hoist + " fsck >/dev/null").status == 0);
    }
  }
}

TEST_CASE("a blob redirect to another host is followed without the registry's credentials",
          "[registry][faults]") {
  // Registries send blob GETs to their storage, which lives elsewhere: the redirect is
  // followed, and the Authorization header stays with the registry. The storage here is a
  // second registry (no auth) holding the same blob, behind a recording proxy.
  RegistryServer::Options basic;
  basic.auth = RegistryServer::Auth::Basic;
  RegistryServer server(basic);
  RegistryServer storage({});
  REQUIRE(server.start_error() == "");
  REQUIRE(storage.start_error() == "");
  TempDir a, b;
  auto store_a = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store_a, "redirect", {100000});
  registry::ClientOptions o;
  o.backoff = std::chrono::milliseconds(10);
  o.credentials = registry::Credentials{"alice", "s3cret-pass", ""};
  registry::Client direct(server.host(), o);
  const auto ref = *registry::Reference::parse(server.host() + "/redir/app:v1");
  REQUIRE(registry::push(direct, *store_a, ref, image.manifest));
  registry::Client plain(storage.host(), {});
  REQUIRE(registry::push(plain, *store_a, *registry::Reference::parse(storage.host() + "/redir/app:v1"),
                         image.manifest));

  FaultProxy storage_proxy(storage.port(), Fault::None, 0, "");
  FaultProxy proxy(server.port(), Fault::Redirect, -1, "/blobs/" + image.layers[0].digest.str());
  proxy.set_redirect_host(storage_proxy.host());
  const auto through = *registry::Reference::parse(proxy.host() + "/redir/app:v1");
  registry::Client client(through.domain(), o);
  auto store_b = layers::Store::open(b.path());
  auto pulled = registry::pull(client, *store_b, through);
  REQUIRE(pulled);
  CHECK(store_b->blobs().verify(image.layers[0].digest));
  CHECK(proxy.count_requests(" [auth]") > 0);  // the registry did get the credentials
  CHECK(storage_proxy.count_requests("/blobs/" + image.layers[0].digest.str()) == 1);
  CHECK(storage_proxy.count_requests(" [auth]") == 0);
}
