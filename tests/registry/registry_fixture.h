#pragma once
// Real registries for the registry tests, on 127.0.0.1 only.
//
// RegistryServer runs Debian's `docker-registry serve CONFIG` on a free loopback port with
// a temp storage dir, in one of four shapes: no auth, htpasswd Basic auth, token auth
// (against TokenIssuer, a cpp-httplib server in this folder that signs RS256 JWTs with a
// key made at test time), and TLS (a CA and server certificate made with the openssl CLI at
// test time). start() waits until /v2/ answers; the destructor stops the process.
//
// Helpers: TempDir (removed with its contents), run() for test-only commands (skopeo,
// umoci, openssl, htpasswd), free_port().

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace registry_test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int status = -1;     // exit status, or -1 when it could not run
  std::string output;  // stdout and stderr
};
// Runs `command` with /bin/sh; output captured.
CommandResult run(const std::string& command);

// A TCP port on 127.0.0.1 nobody listened on a moment ago.
int free_port();

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
struct TestCa {
  explicit TestCa(const std::string& dir);
  std::string ca_cert;  // PEM file paths
  std::string server_cert;
  std::string server_key;
};

// Issues Docker registry tokens: GET /token?service=S&scope=repository:NAME:ACTIONS.
// Anonymous callers get "pull" only; callers with the configured Basic credentials get what
// they ask for; wrong credentials get 401. Counts requests, so tests can see token reuse.
class TokenIssuer {
 public:
  TokenIssuer(const std::string& dir, std::string user, std::string password);
  ~TokenIssuer();
  std::string realm() const;
  const std::string& cert_bundle() const { return cert_; }  // the registry's rootcertbundle
  int requests() const { return requests_.load(); }

 private:
  std::string sign(const std::string& scope_text, bool authenticated);
  std::string key_;
  std::string cert_;
  std::string cert_der_b64_;
  std::string user_, password_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
};

class RegistryServer {
 public:
  enum class Auth { None, Basic, Token };
  struct Options {
    Auth auth = Auth::None;
    bool tls = false;
    std::string user = "alice";
    std::string password = "s3cret-pass";
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
  TempDir dir_;
  Options options_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
  std::string ca_cert_;
  std::unique_ptr<TokenIssuer> issuer_;
};

}  // namespace registry_test
