// Token auth beyond the basics, against docker-registry and the test token issuer:
// a cross-repository mount needs one token covering pull on the source and push on the
// target; an identity token in config.json is spent with the OAuth2 refresh-token grant
// and the password is never sent.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "layers/store.h"
#include "registry/base64.h"
#include "registry/client.h"
#include "registry/http.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "registry/transfer.h"
#include "tests/registry/fault_proxy.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/test_image.h"
#include "tests/support/test_env.h"

using registry_test::FaultProxy;
using hoist_test::RegistryServer;
using hoist_test::TempDir;
using State = registry::TransferObserver::State;
using registry_test::parse_ref;

namespace {

registry::ClientOptions options_with(std::optional<registry::Credentials> credentials) {
  registry::ClientOptions o;
  o.backoff = std::chrono::milliseconds(20);
  o.credentials = std::move(credentials);
  return o;
}

}  // namespace

TEST_CASE("token auth: pushing to a second repository mounts every blob from the first",
          "[registry][auth][token][mount]") {
  RegistryServer server({.auth = RegistryServer::Auth::Token});
  REQUIRE(server.start_error() == "");
  // A pass-through proxy records every request hoist makes and what the registry answered.
  FaultProxy proxy(server.port(), FaultProxy::Fault::None, 0, "");
  TempDir a;
  auto store = layers::Store::open(a.path());
  REQUIRE(store);
  auto image = registry_test::make_image(*store, "mount", {3000, 4000});
  const auto repo_a = parse_ref(proxy.host() + "/team/a:v1");
  const auto repo_b = parse_ref(proxy.host() + "/team/b:v1");
  registry::Client alice(repo_a.domain(),
                         options_with(registry::Credentials{"alice", "s3cret-pass", ""}));
  REQUIRE(registry::push(alice, *store, repo_a, image.manifest));
  // The local tag is what tells hoist the blobs came from team/a.
  REQUIRE(store->set_tag(repo_a.str(), image.manifest));

  int mounted = 0, uploaded = 0;
  registry::PushOptions push_options;
  push_options.observer.on_blob = [&](const layers::Descriptor&, State s, uint64_t, std::string_view) {
    if (s == State::Mounted) ++mounted;
    if (s == State::Done) ++uploaded;
  };
  const size_t scope_requests_before = server.issuer()->scope_requests().size();
  auto pushed = registry::push(alice, *store, repo_b, image.manifest, push_options);
  INFO([&] {
    std::string all;
    for (const auto& line : proxy.requests()) all += line + "\n";
    return all;
  }());
  REQUIRE(pushed);
  CHECK(*pushed == image.manifest.digest);
  const size_t blobs = image.layers.size() + 1;  // layers and config
  CHECK(mounted == static_cast<int>(blobs));
  CHECK(uploaded == 0);

  // The registry itself says so: each blob's mount POST answered 201 Created, and no upload
  // (PATCH, or PUT to an upload URL) ever went to team/b.
  std::vector<layers::Descriptor> all_blobs = image.layers;
  all_blobs.push_back(image.config);
  for (const auto& blob : all_blobs) {
    CAPTURE(blob.digest.str());
    CHECK(proxy.count_requests(
              "POST /v2/team/b/blobs/uploads/?mount=" + registry::url_encode(blob.digest.str()) +
              "&from=" + registry::url_encode("team/a") + " -> 201") == 1);
  }
  // (A POST may first be answered 401 while the wider token is fetched; every POST is a
  // mount, and none started an ordinary upload with 202.)
  CHECK(proxy.count_requests("POST /v2/team/b/blobs/uploads/") ==
        proxy.count_requests("POST /v2/team/b/blobs/uploads/?mount="));
  CHECK(proxy.count_requests("POST /v2/team/b/blobs/uploads/?mount=") >= static_cast<int>(blobs));
  const auto lines = proxy.requests();
  CHECK(std::none_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("/v2/team/b/") != std::string::npos && line.ends_with(" -> 202");
  }));
  CHECK(proxy.count_requests("PATCH /v2/team/b/") == 0);
  CHECK(proxy.count_requests("PUT /v2/team/b/blobs/") == 0);
  CHECK(proxy.count_requests("PUT /v2/team/b/manifests/v1 -> 201") == 1);

  // One token request asked for push on team/b and pull on team/a together.
  auto scopes = server.issuer()->scope_requests();
  REQUIRE(scopes.size() > scope_requests_before);
  CHECK(std::any_of(scopes.begin() + static_cast<std::ptrdiff_t>(scope_requests_before),
                    scopes.end(), [](const std::string& s) {
                      return s.find("repository:team/b:pull,push") != std::string::npos &&
                             s.find("repository:team/a:pull") != std::string::npos;
                    }));

  // And team/b really holds the image: it pulls back whole.
  TempDir b;
  auto store_b = layers::Store::open(b.path());
  auto pulled = registry::pull(alice, *store_b, repo_b);
  REQUIRE(pulled);
  CHECK(pulled->image.digest == image.manifest.digest);
  for (const auto& l : image.layers) CHECK(store_b->blobs().verify(l.digest));
}

namespace {

// What `hoist pull` does after parsing its arguments: options from the settings and the
// DOCKER_CONFIG credentials (client_options), then pull. Debug lines are collected.
struct PullRun {
  layers::Result<registry::PullResult> result = layers::Error(layers::ErrorKind::Io, "not run");
  std::string debug;
};

PullRun pull_as_the_cli(const std::string& docker_config, const std::string& root,
                        const registry::Reference& target) {
  PullRun out;
  ::setenv("DOCKER_CONFIG", docker_config.c_str(), 1);
  auto options = registry::client_options(registry::Settings{}, target.domain());
  ::unsetenv("DOCKER_CONFIG");
  if (!options) {
    out.result = std::move(options).error();
    return out;
  }
  options->backoff = std::chrono::milliseconds(20);
  options->debug_log = [&out](const std::string& line) { out.debug += line + "\n"; };
  registry::Client client(target.domain(), *options);
  auto store = layers::Store::open(root);
  if (!store) {
    out.result = std::move(store).error();
    return out;
  }
  out.result = registry::pull(client, *store, target);
  return out;
}

}  // namespace

TEST_CASE("identitytoken in config.json: pull uses the refresh-token grant, never the password",
          "[registry][auth][token][identitytoken][cli]") {
  // Anonymous callers may not even pull here, so a successful pull proves the token worked.
  RegistryServer server({.auth = RegistryServer::Auth::Token, .anonymous_pull = false});
  REQUIRE(server.start_error() == "");
  const auto& issuer = *server.issuer();
  TempDir src, docker_config, root;
  auto store = layers::Store::open(src.path());
  REQUIRE(store);
  auto image = registry_test::make_image(*store, "identity token", {2000});
  const auto target = parse_ref(server.host() + "/private/app:v1");
  registry::Client alice(target.domain(),
                         options_with(registry::Credentials{"alice", "s3cret-pass", ""}));
  REQUIRE(registry::push(alice, *store, target, image.manifest));
  const std::string config = docker_config.path() + "/config.json";

  SECTION("anonymous pull is refused") {
    auto run = pull_as_the_cli(docker_config.path(), root.path(), target);
    REQUIRE_FALSE(run.result);
    CHECK(run.result.error().kind() == layers::ErrorKind::Unauthorized);
    CHECK_THAT(run.result.error().describe(),
               Catch::Contains("401 for pull from " + server.host() + "/private/app"));
  }

  SECTION("the identity token is used; the password beside it is never sent") {
    // As `docker login` leaves it for an OAuth registry: the auth entry beside the token.
    // Here it even holds the right password, so any use of it would be seen by the issuer.
    nlohmann::json doc = {{"auths",
                           {{server.host(),
                             {{"auth", registry::base64_encode("alice:s3cret-pass")},
                              {"identitytoken", issuer.refresh_token()}}}}}};
    hoist_test::write_file(config, doc.dump());
    const int password_before = issuer.password_requests();
    const int refresh_before = issuer.refresh_requests();
    auto run = pull_as_the_cli(docker_config.path(), root.path(), target);
    INFO(run.debug);
    REQUIRE(run.result);
    CHECK(run.result->image.digest == image.manifest.digest);
    CHECK(issuer.refresh_requests() > refresh_before);
    CHECK(issuer.password_requests() == password_before);
    CHECK_THAT(run.debug, Catch::Contains("GET ") && !Catch::Contains(issuer.refresh_token()) &&
                              !Catch::Contains("s3cret-pass"));
    auto pulled_store = layers::Store::open(root.path());
    auto tagged = pulled_store->find_tag(target.str());
    REQUIRE(tagged);
    CHECK(tagged->digest == image.manifest.digest);
    // The grant's one scope field named the repository.
    auto scopes = issuer.scope_requests();
    CHECK(std::count(scopes.begin(), scopes.end(), "repository:private/app:pull") >= 1);

    // The same credentials push (the grant gives what the token holder may do).
    registry::Credentials token_only{"alice", "", issuer.refresh_token()};
    registry::Client with_token(target.domain(), options_with(token_only));
    REQUIRE(registry::push(with_token, *store, parse_ref(server.host() + "/private/copy:v1"),
                           image.manifest));
    CHECK(issuer.password_requests() == password_before);
  }

  SECTION("hoist pull (the command) spends the identity token too") {
    nlohmann::json doc = {{"auths",
                           {{server.host(),
                             {{"auth", registry::base64_encode("alice:s3cret-pass")},
                              {"identitytoken", issuer.refresh_token()}}}}}};
    hoist_test::write_file(config, doc.dump());
    const int password_before = issuer.password_requests();
    const int refresh_before = issuer.refresh_requests();
    auto pulled = hoist_test::run("DOCKER_CONFIG=" + docker_config.path() + " " +
                                  hoist_test::hoist_bin() + " --root " + root.path() +
                                  " --debug pull " + target.str());
    INFO(pulled.output);
    REQUIRE(pulled.status == 0);
    CHECK_THAT(pulled.output, Catch::Contains(image.manifest.digest.str()) &&
                                  !Catch::Contains(issuer.refresh_token()) &&
                                  !Catch::Contains("s3cret-pass"));
    CHECK(issuer.refresh_requests() > refresh_before);
    CHECK(issuer.password_requests() == password_before);
  }

  SECTION("a refused identity token is a clear error that does not show it") {
    nlohmann::json doc = {
        {"auths", {{server.host(), {{"identitytoken", "revoked-refresh-token-4711"}}}}}};
    hoist_test::write_file(config, doc.dump());
    auto run = pull_as_the_cli(docker_config.path(), root.path(), target);
    REQUIRE_FALSE(run.result);
    const std::string message = run.result.error().describe();
    CHECK(run.result.error().kind() == layers::ErrorKind::Unauthorized);
    CHECK_THAT(message, Catch::Contains("401 for pull from " + server.host() + "/private/app") &&
                            Catch::Contains("refused the stored identity token (invalid_grant)") &&
                            Catch::Contains("hoist login") &&
                            !Catch::Contains("revoked-refresh-token-4711"));
  }
}
