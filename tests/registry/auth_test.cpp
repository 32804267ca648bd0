// WWW-Authenticate parsing, and the auth flows against real registries: htpasswd Basic,
// token auth with a JWT issuer, and TLS with a CA made at test time.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>

#include "layers/store.h"
#include "registry/auth.h"
#include "registry/base64.h"
#include "registry/client.h"
#include "registry/http.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/test_image.h"
#include "tests/support/test_env.h"

using hoist_test::RegistryServer;
using hoist_test::run;
using hoist_test::TempDir;
using registry_test::parse_ref;
using hoist_test::hoist_bin;

namespace {

registry::ClientOptions fast_options(
    std::optional<registry::Credentials> credentials = std::nullopt) {
  registry::ClientOptions o;
  o.backoff = std::chrono::milliseconds(20);
  o.credentials = std::move(credentials);
  return o;
}

}  // namespace

TEST_CASE("WWW-Authenticate challenges are parsed", "[registry][auth]") {
  auto [header, scheme, realm, service,
        scope] = GENERATE(table<std::string, std::string, std::string, std::string, std::string>({
      {R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")",
       "bearer", "https://auth.docker.io/token", "registry.docker.io",
       "repository:library/busybox:pull"},
      {R"(Basic realm="Registry Realm")", "basic", "Registry Realm", "", ""},
      {R"(bearer  realm="https://r/t" , service=svc)", "bearer", "https://r/t", "svc", ""},
      {R"(Bearer realm="a\"b",scope="repository:x:pull,push")", "bearer", "a\"b", "",
       "repository:x:pull,push"},
  }));
  CAPTURE(header);
  auto parsed = registry::parse_www_authenticate(header);
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 1);
  const auto& c = (*parsed)[0];
  CHECK(c.scheme == scheme);
  CHECK(c.params.count("realm") == 1);
  CHECK(c.params.at("realm") == realm);
  CHECK((c.params.count("service") ? c.params.at("service") : "") == service);
  CHECK((c.params.count("scope") ? c.params.at("scope") : "") == scope);
}

TEST_CASE("malformed WWW-Authenticate headers are refused", "[registry][auth]") {
  auto header = GENERATE(as<std::string>{}, "", "   ", "Bearer realm=\"unterminated",
                         "Bearer realm=\"x\" junk=");
  CAPTURE(header);
  CHECK_FALSE(registry::parse_www_authenticate(header));
}

TEST_CASE("plain HTTP only for loopback and named insecure registries", "[registry][http]") {
  auto [host, insecure, plain] = GENERATE(table<std::string, std::string, bool>({
      {"localhost:5000", "", true},
      {"127.0.0.1:5000", "", true},
      {"127.8.9.10", "", true},
      {"[::1]:5000", "", true},
      {"registry.example.com", "", false},
      {"127.0.0.1.example.com", "", false},
      {"10.0.0.5:5000", "10.0.0.5:5000", true},
      {"10.0.0.5:5000", "10.0.0.5", true},
      {"10.0.0.5:5000", "10.0.0.6", false},
  }));
  CAPTURE(host, insecure);
  std::vector<std::string> list;
  if (!insecure.empty()) list.push_back(insecure);
  CHECK(registry::allow_plain_http(host, list) == plain);
}

TEST_CASE("redirect locations resolve against the URL they came from", "[registry][http]") {
  auto base = *registry::Url::parse("https://reg.example.com/v2/app/blobs/sha256:ab");
  auto [location, expected] = GENERATE(table<std::string, std::string>({
      {"https://s3.example.net/bucket/x?sig=1", "https://s3.example.net/bucket/x?sig=1"},
      {"/v2/app/blobs/uploads/123?_state=z",
       "https://reg.example.com/v2/app/blobs/uploads/123?_state=z"},
      {"//cdn.example.org/y", "https://cdn.example.org/y"},
  }));
  auto resolved = base.resolve(location);
  REQUIRE(resolved);
  CHECK(resolved->str() == expected);
  CHECK_FALSE(base.resolve("ftp://x/y"));
  CHECK_FALSE(base.resolve("relative/path"));
}

TEST_CASE("Basic auth: refused without credentials, works with them", "[registry][auth][basic]") {
  RegistryServer server({.auth = RegistryServer::Auth::Basic});
  REQUIRE(server.start_error() == "");
  TempDir a;
  auto store = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store, "basic", {800});
  const auto target = parse_ref(server.host() + "/private/app:v1");

  registry::Client anonymous(target.domain(), fast_options());
  auto refused = registry::push(anonymous, *store, target, image.manifest);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind() == layers::ErrorKind::Unauthorized);
  CHECK_THAT(refused.error().describe(),
             Catch::Contains("401 for push to " + server.host() + "/private/app") &&
                 Catch::Contains("hoist login"));

  registry::Client wrong(target.domain(),
                         fast_options(registry::Credentials{"alice", "wrong-pass", ""}));
  auto wrong_result = wrong.ping();
  REQUIRE_FALSE(wrong_result);
  CHECK(wrong_result.error().kind() == layers::ErrorKind::Unauthorized);
  CHECK_THAT(wrong_result.error().describe(), !Catch::Contains("wrong-pass"));

  registry::Client alice(target.domain(),
                         fast_options(registry::Credentials{"alice", "s3cret-pass", ""}));
  REQUIRE(registry::push(alice, *store, target, image.manifest));
  TempDir b;
  auto store_b = layers::Store::open(b.path());
  REQUIRE(registry::pull(alice, *store_b, target));
}

TEST_CASE("hoist login stores verified credentials 0600; push uses them; logout removes them",
          "[registry][auth][cli]") {
  RegistryServer server({.auth = RegistryServer::Auth::Basic});
  REQUIRE(server.start_error() == "");
  TempDir docker_config, root;
  const std::string env = "DOCKER_CONFIG=" + docker_config.path() + " ";
  const std::string hoist = env + hoist_bin() + " --root " + root.path();

  auto bad = run("echo wrong | " + hoist + " login -u alice --password-stdin " + server.host());
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Catch::Contains(server.host()) && !Catch::Contains("wrong\n"));
  CHECK(hoist_test::read_file(docker_config.path() + "/config.json").empty());

  auto good =
      run("echo s3cret-pass | " + hoist + " login -u alice --password-stdin " + server.host());
  INFO(good.output);
  REQUIRE(good.status == 0);
  CHECK_THAT(good.output, Catch::Contains("Login Succeeded"));
  struct stat st {};
  REQUIRE(::stat((docker_config.path() + "/config.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto config = registry::DockerConfig::load(docker_config.path());
  REQUIRE(config);
  auto creds = config->get(server.host());
  REQUIRE(creds);
  REQUIRE(creds->has_value());
  CHECK((*creds)->username == "alice");
  CHECK((*creds)->password == "s3cret-pass");

  auto store = layers::Store::open(root.path());
  auto image = registry_test::make_image(*store, "login", {500});
  REQUIRE(store->set_tag(server.host() + "/logged/in:v1", image.manifest));
  auto pushed = run(hoist + " push " + server.host() + "/logged/in:v1");
  INFO(pushed.output);
  CHECK(pushed.status == 0);

  // --debug shows every request, never the password or the Authorization header.
  auto debug = run(hoist + " --debug push " + server.host() + "/logged/in:v1");
  INFO(debug.output);
  CHECK(debug.status == 0);
  CHECK_THAT(debug.output, Catch::Contains("debug: "));
  CHECK_THAT(debug.output, !Catch::Contains("s3cret-pass") &&
                               !Catch::Contains(registry::base64_encode("alice:s3cret-pass")));

  auto out = run(hoist + " logout " + server.host());
  CHECK(out.status == 0);
  CHECK(out.output == "Removing login credentials for " + server.host() + "\n");
  // Not logged in any more: one line saying so, as docker logout.
  auto again = run(hoist + " logout " + server.host());
  CHECK(again.status == 0);
  CHECK(again.output == "Not logged in to " + server.host() + "\n");
  auto after = registry::DockerConfig::load(docker_config.path());
  REQUIRE(after);
  CHECK_FALSE(after->get(server.host())->has_value());
  auto refused = run(hoist + " push " + server.host() + "/logged/in:v1");
  CHECK(refused.status == 1);
  CHECK_THAT(refused.output,
             Catch::Contains("401 for push to " + server.host() + "/logged/in: run hoist login"));

  // -p works and warns as docker does; a config directory hoist makes is 0700.
  const std::string fresh = docker_config.path() + "/fresh";
  auto with_p = run("DOCKER_CONFIG=" + fresh + " " + hoist_bin() + " --root " + root.path() +
                    " login -u alice -p s3cret-pass " + server.host());
  INFO(with_p.output);
  CHECK(with_p.status == 0);
  CHECK_THAT(with_p.output, Catch::Contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."));
  REQUIRE(::stat(fresh.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("token auth: anonymous pull scope, credentials for push, tokens reused",
          "[registry][auth][token]") {
  RegistryServer server({.auth = RegistryServer::Auth::Token});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store, "token", {700, 900});
  const auto target = parse_ref(server.host() + "/tok/app:v1");

  registry::Client anonymous(target.domain(), fast_options());
  auto refused = registry::push(anonymous, *store, target, image.manifest);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind() == layers::ErrorKind::Unauthorized);
  CHECK_THAT(refused.error().describe(),
             Catch::Contains("401 for push to " + server.host() + "/tok/app"));

  registry::Client wrong(target.domain(), fast_options(registry::Credentials{"alice", "nope", ""}));
  auto wrong_result = registry::push(wrong, *store, target, image.manifest);
  REQUIRE_FALSE(wrong_result);
  CHECK(wrong_result.error().kind() == layers::ErrorKind::Unauthorized);
  CHECK_THAT(wrong_result.error().describe(), !Catch::Contains("nope"));

  registry::Client alice(target.domain(),
                         fast_options(registry::Credentials{"alice", "s3cret-pass", ""}));
  const int before = server.issuer()->requests();
  REQUIRE(registry::push(alice, *store, target, image.manifest));
  // One token for pull+push on the repository, reused for every request of the push.
  CHECK(server.issuer()->requests() - before <= 2);

  // Anonymous pull works: the issuer grants pull to anyone.
  auto store_b = layers::Store::open(b.path());
  auto pulled = registry::pull(anonymous, *store_b, target);
  REQUIRE(pulled);
  CHECK(pulled->image.digest == image.manifest.digest);

  SECTION("login verifies credentials with the token service") {
    CHECK(alice.ping());
    registry::Client bad(target.domain(), fast_options(registry::Credentials{"alice", "nope", ""}));
    auto r = bad.ping();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == layers::ErrorKind::Unauthorized);
  }
}

TEST_CASE("TLS: the test CA is required, then push and pull work", "[registry][tls]") {
  RegistryServer server({.tls = true});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store = layers::Store::open(a.path());
  auto image = registry_test::make_image(*store, "tls", {600});
  const auto target = parse_ref(server.host() + "/secure/app:v1");

  // Loopback may use plain HTTP, but a registry that speaks TLS is reached over TLS, and
  // an untrusted certificate is an error, not a downgrade.
  auto options = fast_options();
  options.max_attempts = 1;
  options.tls.certs_dir = "";
  registry::Client untrusting(target.domain(), options);
  auto refused = registry::push(untrusting, *store, target, image.manifest);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind() == layers::ErrorKind::Network);
  CHECK_THAT(refused.error().describe(),
             Catch::Contains("certificate") && Catch::Contains("https://"));

  options.tls.ca_file = server.ca_cert();
  registry::Client trusting(target.domain(), options);
  REQUIRE(registry::push(trusting, *store, target, image.manifest));
  auto store_b = layers::Store::open(b.path());
  auto pulled = registry::pull(trusting, *store_b, target);
  REQUIRE(pulled);
  CHECK(pulled->image.digest == image.manifest.digest);

  registry::HttpRequest req;
  req.url = *registry::Url::parse("https://" + server.host() + "/v2/");
  SECTION("certs.d/HOST/ca.crt is trusted like --tls-ca") {
    TempDir certs;
    std::filesystem::create_directories(certs.path() + "/" + server.host());
    std::filesystem::copy_file(server.ca_cert(), certs.path() + "/" + server.host() + "/ca.crt");
    registry::HttpClient by_dir({.ca_file = "", .certs_dir = certs.path(), .insecure_hosts = {}});
    auto r = by_dir.send(req);
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("a registry that cannot be reached is named with the reason, not the HTTP library's word",
          "[registry][http][cli]") {
  TempDir docker_config, root;
  const std::string host = "127.0.0.1:" + std::to_string(hoist_test::free_port());  // nothing listens
  auto r = run("DOCKER_CONFIG=" + docker_config.path() + " " + hoist_bin() +
               " --root " + root.path() + " pull " + host + "/nobody/here:v1");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("registry " + host + ": cannot connect: Connection refused (GET http://" + host + "/v2/"));
}
