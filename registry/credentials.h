#pragma once
// Registry credentials where Docker keeps them: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json. Reads `auths` entries (base64 "user:password" in `auth`, or an
// `identitytoken`), and `credsStore` / `credHelpers`, which name a program
// `docker-credential-NAME` spoken to with Docker's protocol (`get`/`store`/`erase`, the
// server URL or a JSON document on stdin, JSON on stdout).
//
// The config file is untrusted input: a malformed one, or one that is not a regular file of
// at most 4 MiB, is InvalidInput naming the file. A helper's reply is bounded (1 MiB; the
// helper is killed past that), and a helper that dies without reading its input is an
// error, not a crash (the CLI ignores SIGPIPE). A helper must take its input, reply and exit
// within HOIST_REGISTRY_TIMEOUT (default 30 s, as for registry replies): one that hangs or
// trickles is killed and the call fails naming the helper and the registry.
// Writing keeps every field hoist does not know, and leaves the file mode 0600.
// Secrets are never put in an Error message.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "layers/error.h"

namespace registry {

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth refresh token, used instead of the password

  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// The key Docker uses for a registry host: "https://index.docker.io/v1/" for Docker Hub
// ("docker.io", "index.docker.io", "registry-1.docker.io"), the host itself otherwise.
std::string credential_key(std::string_view registry_host);

// The registry host a `hoist login` argument names: "https://index.docker.io/v1/" and
// "index.docker.io" are "docker.io"; "localhost:5000/" is "localhost:5000".
std::string login_host(std::string_view text);

// Reads what `docker-credential-NAME get` printed: {"Username": U, "Secret": S}, where a
// Username of "<token>" makes the secret an identity token. InvalidInput otherwise.
layers::Result<Credentials> parse_helper_reply(std::string_view output);

// Reads a small configuration file that may be anything: only a regular file is read
// (opened O_NONBLOCK, so a FIFO cannot block the open, then checked with fstat), at most
// `max_bytes` of it. NotFound when it does not exist; InvalidInput naming `path` for a
// directory, FIFO, device or an oversized file; Io for other failures.
layers::Result<std::string> read_config_file(const std::string& path, size_t max_bytes);

class DockerConfig {
 public:
  // Loads from `dir` (the DOCKER_CONFIG directory), or from $DOCKER_CONFIG, or ~/.docker
  // when `dir` is empty. A missing file is an empty config. Helpers get
  // HttpLimits::from_env()'s idle time (InvalidInput for a malformed HOIST_REGISTRY_TIMEOUT).
  static layers::Result<DockerConfig> load(const std::string& dir = "");

  // Reads config.json text (`path` names it in errors). What load() does after reading.
  static layers::Result<DockerConfig> parse(std::string_view text, std::string path);

  const std::string& path() const { return path_; }

  // The credentials for `registry_host`, or nullopt when none are configured (a helper
  // answering "credentials not found" counts as none).
  layers::Result<std::optional<Credentials>> get(std::string_view registry_host) const;
  // Stores in the registry's helper (credHelpers, then credsStore) or in `auths`, and
  // writes the file (mode 0600) when it changed.
  layers::Result<void> store(std::string_view registry_host, const Credentials& credentials);
  // Removes what is stored for `registry_host`. NotFound if nothing was.
  layers::Result<void> erase(std::string_view registry_host);

 private:
  std::string helper_for(const std::string& key) const;
  const nlohmann::json* find_auth(const std::string& key) const;
  layers::Result<void> save() const;

  std::string path_;
  nlohmann::json doc_ = nlohmann::json::object();
  std::chrono::seconds helper_timeout_ = std::chrono::seconds(30);  // load(): the HttpLimits idle
};

}  // namespace registry
