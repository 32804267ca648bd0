// Docker's config.json credentials and credential helpers, base64, and the redirect rule
// that keeps the registry's Authorization away from other hosts.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <filesystem>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "registry/base64.h"
#include "registry/credentials.h"
#include "registry/http.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/test_env.h"

using hoist_test::read_file;
using hoist_test::TempDir;
using hoist_test::write_file;

TEST_CASE("base64 round trips and refuses non-canonical text", "[registry][credentials]") {
  auto [plain, encoded] = GENERATE(table<std::string, std::string>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"alice:s3cret", "YWxpY2U6czNjcmV0"},
  }));
  CHECK(registry::base64_encode(plain) == encoded);
  auto decoded = registry::base64_decode(encoded);
  REQUIRE(decoded);
  CHECK(*decoded == plain);
  for (const char* bad : {"Zg=", "Z===", "Zm9v!", "Zg==Zg=="})
    CHECK_FALSE(registry::base64_decode(bad));
}

TEST_CASE("credential keys and login hosts follow Docker's spelling", "[registry][credentials]") {
  auto [text, host, key] = GENERATE(table<std::string, std::string, std::string>({
      {"docker.io", "docker.io", "https://index.docker.io/v1/"},
      {"https://index.docker.io/v1/", "docker.io", "https://index.docker.io/v1/"},
      {"registry-1.docker.io", "docker.io", "https://index.docker.io/v1/"},
      {"localhost:5000", "localhost:5000", "localhost:5000"},
      {"https://ghcr.io/", "ghcr.io", "ghcr.io"},
  }));
  CHECK(registry::login_host(text) == host);
  CHECK(registry::credential_key(host) == key);
}

TEST_CASE("config.json auths: auth, identitytoken, other spellings; store keeps unknown fields",
          "[registry][credentials]") {
  TempDir dir;
  write_file(dir.path() + "/config.json", R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                                              registry::base64_encode("bob:hub-pass") + R"("},
      "http://reg.example.com/v2/": {"auth": ")" +
                                              registry::base64_encode("carol:pa:ss") + R"("},
      "tok.example.com": {"identitytoken": "refresh-123"}
    },
    "psFormat": "keep me"
  })");
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE(config);
  auto hub = config->get("docker.io");
  REQUIRE(hub);
  REQUIRE(hub->has_value());
  CHECK((*hub)->username == "bob");
  CHECK((*hub)->password == "hub-pass");
  auto reg = config->get("reg.example.com");
  REQUIRE((reg && reg->has_value()));
  CHECK((*reg)->password == "pa:ss");
  auto tok = config->get("tok.example.com");
  REQUIRE((tok && tok->has_value()));
  CHECK((*tok)->identity_token == "refresh-123");
  auto none = config->get("nothing.example.com");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());

  REQUIRE(config->store("new.example.com:5000", {"dave", "pw", ""}));
  struct stat st {};
  REQUIRE(::stat(config->path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto doc = nlohmann::json::parse(read_file(config->path()));
  CHECK(doc["psFormat"] == "keep me");
  CHECK(doc["auths"]["new.example.com:5000"]["auth"] == registry::base64_encode("dave:pw"));
  REQUIRE(config->erase("reg.example.com"));
  CHECK(config->erase("reg.example.com").error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("a malformed config.json is refused naming the file", "[registry][credentials]") {
  auto text = GENERATE(as<std::string>{}, "{", "[]", R"({"auths": []})", R"({"credsStore": 5})",
                       R"({"auths": {"h": {"auth": "not base64!"}}})");
  CAPTURE(text);
  TempDir dir;
  write_file(dir.path() + "/config.json", text);
  auto config = registry::DockerConfig::load(dir.path());
  if (config) {
    auto got = config->get("h");
    REQUIRE_FALSE(got);
    CHECK_THAT(got.error().describe(), Catch::Contains("config.json"));
  } else {
    CHECK(config.error().kind() == layers::ErrorKind::InvalidInput);
    CHECK_THAT(config.error().describe(), Catch::Contains(dir.path() + "/config.json"));
  }
}

TEST_CASE("credential helpers are spoken to with Docker's protocol", "[registry][credentials]") {
  TempDir dir, bin;
  // A helper keeping one secret per server in files, as docker-credential-* programs do.
  const std::string helper = bin.path() + "/docker-credential-hoisttest";
  write_file(
      helper,
      "#!/bin/sh\nstore=" + dir.path() +
          "/helper-store\nmkdir -p \"$store\"\n"
          "case \"$1\" in\n"
          "get) read -r url; f=\"$store/$(echo \"$url\" | tr -c 'a-zA-Z0-9.\\n' _)\";\n"
          "  if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native "
          "keychain'; exit 1; fi;;\n"
          "store) json=$(cat); url=$(echo \"$json\" | sed "
          "'s/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/');\n"
          "  f=\"$store/$(echo \"$url\" | tr -c 'a-zA-Z0-9.\\n' _)\"; echo \"$json\" > \"$f\";;\n"
          "erase) read -r url; rm \"$store/$(echo \"$url\" | tr -c 'a-zA-Z0-9.\\n' _)\";;\n"
          "esac\n");
  std::filesystem::permissions(helper, std::filesystem::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", (bin.path() + ":" + old_path).c_str(), 1);

  write_file(dir.path() + "/config.json",
             R"({"credHelpers": {"helped.example.com": "hoisttest"}})");
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE(config);
  auto before = config->get("helped.example.com");
  REQUIRE(before);
  CHECK_FALSE(before->has_value());  // "credentials not found" is no credentials, not an error

  REQUIRE(config->store("helped.example.com", {"erin", "helper-secret", ""}));
  CHECK_THAT(read_file(config->path()), !Catch::Contains("helper-secret"));
  auto after = config->get("helped.example.com");
  REQUIRE(after);
  REQUIRE(after->has_value());
  CHECK((*after)->username == "erin");
  CHECK((*after)->password == "helper-secret");
  REQUIRE(config->erase("helped.example.com"));
  CHECK_FALSE(config->get("helped.example.com")->has_value());
  ::setenv("PATH", old_path.c_str(), 1);
}

TEST_CASE("a credential helper name that is not a plain word is refused, never run",
          "[registry][credentials]") {
  TempDir dir;
  // "docker-credential-" + "/../../bin/sh" would be a path to run.
  auto name = GENERATE(as<std::string>{}, "/../../bin/sh", "a/b", "x y", "");
  CAPTURE(name);
  write_file(dir.path() + "/config.json",
             nlohmann::json{{"credHelpers", {{"odd.example.com", name}}}}.dump());
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE(config);
  auto creds = config->get("odd.example.com");
  if (name.empty()) {  // an empty helper name means no helper, as in Docker
    REQUIRE(creds);
    CHECK_FALSE(creds->has_value());
    return;
  }
  REQUIRE_FALSE(creds);
  CHECK(creds.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(creds.error().describe(), Catch::Contains("is not a plain name"));
}

TEST_CASE("credential-helper replies and config.json text are read without running anything",
          "[registry][credentials]") {
  auto token = registry::parse_helper_reply(R"({"Username":"<token>","Secret":"rt"})");
  REQUIRE(token);
  CHECK(token->identity_token == "rt");
  CHECK(token->username.empty());
  CHECK(token->password.empty());
  auto basic = registry::parse_helper_reply(R"({"Username":"bob","Secret":"pw"})");
  REQUIRE(basic);
  CHECK(basic->username == "bob");
  CHECK(basic->password == "pw");
  for (std::string bad : {"", "null", "[]", R"({"Username":"bob"})", R"({"Secret":5})"}) {
    CAPTURE(bad);
    CHECK_FALSE(registry::parse_helper_reply(bad));
  }
  auto parsed = registry::DockerConfig::parse(
      R"({"auths":{"r.example.com":{"identitytoken":"it"}}})", "mem/config.json");
  REQUIRE(parsed);
  auto got = parsed->get("r.example.com");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->identity_token == "it");
  auto broken = registry::DockerConfig::parse(R"({"auths":[]})", "mem/config.json");
  REQUIRE_FALSE(broken);
  CHECK_THAT(broken.error().describe(), Catch::Contains("mem/config.json"));
}

TEST_CASE("a redirect to another host does not carry the registry's Authorization",
          "[registry][http]") {
  httplib::Server storage, registry_server;
  std::string storage_auth = "unset", registry_auth;
  storage.Get("/bucket/blob", [&](const httplib::Request& req, httplib::Response& res) {
    storage_auth = req.get_header_value("Authorization");
    res.set_content("blob bytes", "application/octet-stream");
  });
  int storage_port = storage.bind_to_any_port("127.0.0.1");
  registry_server.Get("/v2/app/blobs/x", [&](const httplib::Request& req, httplib::Response& res) {
    registry_auth = req.get_header_value("Authorization");
    res.status = 307;
    res.set_header("Location", "http://127.0.0.1:" + std::to_string(storage_port) + "/bucket/blob");
  });
  int registry_port = registry_server.bind_to_any_port("127.0.0.1");
  std::thread t1([&] { storage.listen_after_bind(); });
  std::thread t2([&] { registry_server.listen_after_bind(); });
  while (!storage.is_running() || !registry_server.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  registry::HttpClient http({});
  registry::HttpRequest req;
  req.url = *registry::Url::parse("http://127.0.0.1:" + std::to_string(registry_port) +
                                  "/v2/app/blobs/x");
  req.headers.emplace("Authorization", "Bearer registry-token");
  std::string body;
  req.on_body = [&](const char* d, size_t n) {
    body.append(d, n);
    return true;
  };
  auto r = http.send(req);
  storage.stop();
  registry_server.stop();
  t1.join();
  t2.join();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body == "blob bytes");
  CHECK(registry_auth == "Bearer registry-token");
  CHECK(storage_auth == "");
}

TEST_CASE("a config.json that is not a small regular file is refused naming it, without hanging",
          "[registry][credentials]") {
  // A directory, a FIFO nobody writes to (opening it must not wait), an endless device and
  // an oversized file: each an InvalidInput naming the path, each returning at once.
  auto [kind, says] = GENERATE(table<std::string, std::string>({
      {"directory", "is not a regular file (a directory)"},
      {"fifo", "is not a regular file (a FIFO)"},
      {"dev-zero", "is not a regular file (a character device)"},
      {"oversized", "is larger than 4194304 bytes"},
  }));
  CAPTURE(kind);
  TempDir dir;
  const std::string path = dir.path() + "/config.json";
  if (kind == "directory") {
    std::filesystem::create_directory(path);
  } else if (kind == "fifo") {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  } else if (kind == "dev-zero") {
    std::filesystem::create_symlink("/dev/zero", path);
  } else {
    write_file(path, "{\"auths\":{}," + std::string(5 << 20, ' ') + "}");
  }
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE_FALSE(config);
  CHECK(config.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(config.error().describe(), Catch::Contains(path) && Catch::Contains(says));
}

TEST_CASE("a credential helper's endless reply is cut and refused", "[registry][credentials]") {
  TempDir bin, dir;
  const std::string helper = bin.path() + "/docker-credential-endless";
  write_file(helper, "#!/bin/sh\nexec yes '{\"Username\":\"u\",\"Secret\":\"s\"}'\n");
  std::filesystem::permissions(helper, std::filesystem::perms::owner_all);
  write_file(dir.path() + "/config.json", R"({"credsStore": "endless"})");
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", (bin.path() + ":" + old_path).c_str(), 1);
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE(config);
  auto got = config->get("endless.example.com");
  ::setenv("PATH", old_path.c_str(), 1);
  REQUIRE_FALSE(got);
  CHECK_THAT(got.error().describe(), Catch::Contains("docker-credential-endless") &&
                                         Catch::Contains("more than 1048576 bytes"));
}

TEST_CASE("hoist login: a credential helper that exits without reading is an error, not a crash",
          "[registry][credentials]") {
  // The stored JSON is larger than a pipe holds, so writing it meets the helper's exit:
  // EPIPE (hoist ignores SIGPIPE), then the helper's exit status in a clear error.
  hoist_test::RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir bin, dir, root;
  write_file(bin.path() + "/docker-credential-quitter",
             "#!/bin/sh\n"
             "if [ \"$1\" = get ]; then echo 'credentials not found in native keychain'; exit 1; fi\n"
             "exit 3\n");
  std::filesystem::permissions(bin.path() + "/docker-credential-quitter",
                               std::filesystem::perms::owner_all);
  write_file(dir.path() + "/config.json", R"({"credsStore": "quitter"})");
  write_file(dir.path() + "/password", std::string(300000, 'p'));
  auto login = hoist_test::run(
      "PATH=" + bin.path() + ":$PATH DOCKER_CONFIG=" + dir.path() + " HOIST_ROOT=" + root.path() +
      " " + hoist_test::hoist_bin() + " login -u alice --password-stdin " + server.host() +
      " < " + dir.path() + "/password 2>&1; echo \"exit=$?\"");
  INFO(login.output);
  CHECK_THAT(login.output, Catch::Contains("exit=1") &&
                               Catch::Contains("docker-credential-quitter could not store") &&
                               Catch::Contains(server.host()));
}

namespace {

// PATH with `dir` first and HOIST_REGISTRY_TIMEOUT=`seconds`, for one scope.
struct HelperEnv {
  HelperEnv(const std::string& dir, const std::string& seconds) {
    old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
    ::setenv("PATH", (dir + ":" + old_path).c_str(), 1);
    ::setenv("HOIST_REGISTRY_TIMEOUT", seconds.c_str(), 1);
  }
  ~HelperEnv() {
    ::setenv("PATH", old_path.c_str(), 1);
    ::unsetenv("HOIST_REGISTRY_TIMEOUT");
  }
  std::string old_path;
};

}  // namespace

TEST_CASE("a credential helper that hangs or trickles is killed after HOIST_REGISTRY_TIMEOUT",
          "[registry][credentials][helper_timeout]") {
  // Each helper is a real script; none ever gives a whole reply and exits.
  auto [name, script] = GENERATE(table<std::string, std::string>({
      {"sleeper", "exec sleep 600\n"},                          // never writes, never exits
      {"forker", "sleep 600 &\necho $! >> \"$0.children\"\nwait\n"},  // its child holds stdout
      {"closer", "exec >&-\nexec sleep 600\n"},                 // closes stdout, never exits
      {"trickler", "while :; do printf x; sleep 0.2; done\n"},  // a byte at a time, forever
  }));
  CAPTURE(name);
  TempDir bin, dir;
  const std::string helper = bin.path() + "/docker-credential-" + name;
  write_file(helper, "#!/bin/sh\n" + script);
  std::filesystem::permissions(helper, std::filesystem::perms::owner_all);
  write_file(dir.path() + "/config.json", "{\"credsStore\": \"" + name + "\"}");
  HelperEnv env(bin.path(), "2");
  auto config = registry::DockerConfig::load(dir.path());
  REQUIRE(config);
  for (bool storing : {false, true}) {
    CAPTURE(storing);
    const auto start = std::chrono::steady_clock::now();
    std::optional<layers::Error> error;
    if (storing) {
      if (auto r = config->store("hung.example.com", {"u", "p", ""}); !r) error = r.error();
    } else {
      if (auto r = config->get("hung.example.com"); !r) error = r.error();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(error);
    CHECK_THAT(error->describe(), Catch::Contains("docker-credential-" + name) &&
                                      Catch::Contains("hung.example.com") &&
                                      Catch::Contains("within 2 s"));
    CHECK(took >= std::chrono::milliseconds(1900));
    CHECK(took < std::chrono::seconds(20));  // bounded, not hung (the limit is 2 s)
  }
  // The forker's children outlive the helper (only the helper itself is killed).
  std::istringstream children(read_file(helper + ".children"));
  for (std::string pid; std::getline(children, pid);)
    if (std::atoi(pid.c_str()) > 1) ::kill(std::atoi(pid.c_str()), SIGKILL);
}

TEST_CASE("hoist pull with a credential helper that never answers fails naming it and the registry",
          "[registry][credentials][helper_timeout]") {
  TempDir bin, dir, root;
  write_file(bin.path() + "/docker-credential-sleeper", "#!/bin/sh\nexec sleep 600\n");
  std::filesystem::permissions(bin.path() + "/docker-credential-sleeper",
                               std::filesystem::perms::owner_all);
  write_file(dir.path() + "/config.json", R"({"credHelpers": {"127.0.0.1:5999": "sleeper"}})");
  const auto start = std::chrono::steady_clock::now();
  auto pull = hoist_test::run(
      "PATH=" + bin.path() + ":$PATH DOCKER_CONFIG=" + dir.path() + " HOIST_ROOT=" + root.path() +
      " HOIST_REGISTRY_TIMEOUT=2 timeout 120 " + hoist_test::hoist_bin() +
      " pull 127.0.0.1:5999/app:v1 2>&1; echo \"exit=$?\"");
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(pull.output);
  CHECK_THAT(pull.output, Catch::Contains("exit=1") &&
                              Catch::Contains("docker-credential-sleeper") &&
                              Catch::Contains("127.0.0.1:5999") && Catch::Contains("within 2 s"));
  CHECK(took < std::chrono::seconds(20));
}
