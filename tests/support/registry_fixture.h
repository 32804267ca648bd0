#pragma once
// Real registries for the tests (registry/ and builder/), on 127.0.0.1 only.
//
// RegistryServer runs Debian's `docker-registry serve CONFIG` on a free loopback port with
// a temp storage dir, in one of four shapes: no auth, htpasswd Basic auth, token auth
// (against TokenIssuer, a cpp-httplib server in this folder that signs RS256 JWTs with a
// key made at test time), and TLS (a CA and server certificate made with the openssl CLI at
// test time). The constructor waits (at most ~10 s) until /v2/ answers over a real
// connection; when the registry does not come up, start_error() says why, its log included,
// and a test REQUIREs it empty. The destructor stops the process.
//
// Helpers: run() for test-only commands (skopeo, umoci, openssl, htpasswd), free_port().
// Uses no hoist library (only cpp-httplib and OpenSSL): test_registry_dep in
// tests/support/meson.build.

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

namespace httplib {
class Server;
}

namespace hoist_test {

struct CommandResult {
  int status = -1;     // exit status, or -1 when it could not run
  std::string output;  // stdout and stderr
};
// Runs `command` with /bin/sh; output captured.
CommandResult run(const std::string& command);

// A TCP port on 127.0.0.1 nobody listened on a moment ago.
int free_port();

// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
struct TestCa {
  explicit TestCa(const std::string& dir);
  std::string ca_cert;  // PEM file paths
  std::string server_cert;
  std::string server_key;
};

// Issues Docker registry tokens:
//   GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]   (Docker's token spec)
//   POST /token, form grant_type=refresh_token&refresh_token=T&client_id=C&service=S
//        [&scope=ONE SPACE-SEPARATED LIST]   (the OAuth2 flow Docker uses for identity
//        tokens; grant_type=password is accepted too)
// Anonymous callers get "pull" only (nothing when anonymous_pull is false); callers with the
// configured Basic credentials or the refresh token get what they ask for; wrong ones get
// 401 (GET) or 400 invalid_grant (POST). It records what it was asked, so tests can see
// token reuse, the scopes requested and whether the password was ever sent.
class TokenIssuer {
 public:
  TokenIssuer(const std::string& dir, std::string user, std::string password,
              bool anonymous_pull = true);
  ~TokenIssuer();
  std::string realm() const;
  const std::string& cert_bundle() const { return cert_; }  // the registry's rootcertbundle
  const std::string& refresh_token() const { return refresh_token_; }
  int requests() const { return requests_.load(); }
  int password_requests() const { return password_requests_.load(); }  // Basic or grant=password
  int refresh_requests() const { return refresh_requests_.load(); }    // grant_type=refresh_token
  // The scopes of each token request, space-separated, in order.
  std::vector<std::string> scope_requests() const;

 private:
  std::string sign(const std::string& scope_text, bool authenticated);
  void record_scopes(const std::string& scopes);
  std::string key_;
  std::string cert_;
  std::string cert_der_b64_;
  std::string user_, password_;
  std::string refresh_token_;
  bool anonymous_pull_ = true;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> password_requests_{0};
  std::atomic<int> refresh_requests_{0};
  mutable std::mutex scopes_mu_;
  std::vector<std::string> scopes_;
};

class RegistryServer {
 public:
  enum class Auth { None, Basic, Token };
  struct Options {
    Auth auth = Auth::None;
    bool tls = false;
    std::string user = "alice";
    std::string password = "s3cret-pass";
    bool anonymous_pull = true;  // Token: may anonymous callers pull?
  };
  explicit RegistryServer(Options options);
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& start_error() const { return error_; }
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_cert() const { return ca_cert_; }  // TLS only
  const TokenIssuer* issuer() const { return issuer_.get(); }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_{"hoist-regtest"};
  Options options_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
  std::string ca_cert_;
  std::unique_ptr<TokenIssuer> issuer_;
};

}  // namespace hoist_test
