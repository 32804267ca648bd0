#include "tests/support/registry_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace hoist_test {

CommandResult run(const std::string& command) {
  CommandResult result;
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) result.output.append(buf, n);
  int status = ::pclose(p);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TestCa::TestCa(const std::string& dir) {
  ca_cert = dir + "/ca.crt";
  server_cert = dir + "/server.crt";
  server_key = dir + "/server.key";
  const std::string ca_key = dir + "/ca.key";
  const std::string csr = dir + "/server.csr";
  const std::string ext = dir + "/ext.cnf";
  write_file(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
      "/CN=hoist-test-ca"
      " -keyout " +
      ca_key + " -out " + ca_cert);
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 "
      "-keyout " +
      server_key + " -out " + csr);
  run("openssl x509 -req -in " + csr + " -CA " + ca_cert + " -CAkey " + ca_key +
      " -CAcreateserial -days 2 -extfile " + ext + " -out " + server_cert);
}

namespace {

// Standard base64 (OpenSSL's encoder: this fixture links no hoist library).
std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

std::string base64url(std::string_view data) {
  std::string s = base64(data);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

TokenIssuer::TokenIssuer(const std::string& dir, std::string user, std::string password,
                         bool anonymous_pull)
    : user_(std::move(user)), password_(std::move(password)), anonymous_pull_(anonymous_pull) {
  key_ = dir + "/token.key";
  cert_ = dir + "/token.crt";
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=hoist-token-issuer -keyout " +
      key_ + " -out " + cert_);
  auto der = run("openssl x509 -in " + cert_ + " -outform DER | base64 -w0");
  cert_der_b64_ = der.output;
  while (!cert_der_b64_.empty() && std::isspace(static_cast<unsigned char>(cert_der_b64_.back())))
    cert_der_b64_.pop_back();
  refresh_token_ =
      "hoist-test-refresh-" + std::to_string(std::time(nullptr)) + "-" + std::to_string(::getpid());

  server_ = std::make_unique<httplib::Server>();
  server_->Get("/token", [this](const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    bool authenticated = false;
    if (req.has_header("Authorization")) {
      ++password_requests_;
      std::string expected = "Basic " + base64(user_ + ":" + password_);
      if (req.get_header_value("Authorization") != expected) {
        res.status = 401;
        res.set_content(R"({"details":"wrong credentials"})", "application/json");
        return;
      }
      authenticated = true;
    }
    std::string scopes;
    for (size_t i = 0; i < req.get_param_value_count("scope"); ++i)
      scopes += req.get_param_value("scope", i) + " ";
    record_scopes(scopes);
    nlohmann::json reply = {{"token", sign(scopes, authenticated)}, {"expires_in", 300}};
    res.set_content(reply.dump(), "application/json");
  });
  server_->Post("/token", [this](const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    auto refuse = [&res](int status, const char* error) {
      res.status = status;
      res.set_content(nlohmann::json{{"error", error}}.dump(), "application/json");
    };
    if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0)
      return refuse(400, "invalid_request");
    httplib::Params form;
    httplib::detail::parse_query_text(req.body, form);
    auto field = [&form](const std::string& name) {
      auto it = form.find(name);
      return it == form.end() ? std::string() : it->second;
    };
    // The spec: scope at most once (a space-separated list), client_id required.
    if (form.count("scope") > 1 || form.count("grant_type") != 1 || field("client_id").empty())
      return refuse(400, "invalid_request");
    const std::string grant = field("grant_type");
    nlohmann::json reply;
    if (grant == "refresh_token") {
      ++refresh_requests_;
      if (field("refresh_token") != refresh_token_) return refuse(400, "invalid_grant");
    } else if (grant == "password") {
      ++password_requests_;
      if (field("username") != user_ || field("password") != password_)
        return refuse(400, "invalid_grant");
      if (field("access_type") == "offline") reply["refresh_token"] = refresh_token_;
    } else {
      return refuse(400, "unsupported_grant_type");
    }
    const std::string scopes = field("scope");
    record_scopes(scopes);
    reply["access_token"] = sign(scopes, true);
    reply["expires_in"] = 300;
    reply["scope"] = scopes;
    res.set_content(reply.dump(), "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void TokenIssuer::record_scopes(const std::string& scopes) {
  std::lock_guard lock(scopes_mu_);
  scopes_.push_back(scopes);
}

std::vector<std::string> TokenIssuer::scope_requests() const {
  std::lock_guard lock(scopes_mu_);
  return scopes_;
}

TokenIssuer::~TokenIssuer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string TokenIssuer::realm() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/token";
}

std::string TokenIssuer::sign(const std::string& scope_text, bool authenticated) {
  nlohmann::json access = nlohmann::json::array();
  std::istringstream scopes(scope_text);
  std::string scope;
  while (scopes >> scope) {
    // repository:NAME:ACTIONS (NAME may not contain ':' in our tests)
    auto first = scope.find(':');
    auto last = scope.rfind(':');
    if (first == std::string::npos || first == last) continue;
    nlohmann::json actions = nlohmann::json::array();
    std::istringstream list(scope.substr(last + 1));
    std::string action;
    while (std::getline(list, action, ','))
      if (authenticated || (anonymous_pull_ && action == "pull")) actions.push_back(action);
    access.push_back({{"type", scope.substr(0, first)},
                      {"name", scope.substr(first + 1, last - first - 1)},
                      {"actions", actions}});
  }
  const int64_t now = std::time(nullptr);
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5c", {cert_der_b64_}}};
  nlohmann::json claims = {{"iss", "hoist-test-issuer"},
                           {"sub", authenticated ? user_ : ""},
                           {"aud", "hoist-test-registry"},
                           {"exp", now + 300},
                           {"nbf", now - 10},
                           {"iat", now - 10},
                           {"jti", std::to_string(now) + "-" + std::to_string(requests_.load())},
                           {"access", access}};
  std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());

  std::string signature;
  if (std::FILE* f = std::fopen(key_.c_str(), "r")) {
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    if (key && ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestSign(ctx, nullptr, &len,
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) == 1) {
      signature.resize(len);
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size());
      signature.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
  }
  return signing_input + "." + base64url(signature);
}

RegistryServer::RegistryServer(Options options) : options_(std::move(options)) {
  const std::string& d = dir_.path();
  port_ = free_port();
  std::string config =
      "version: 0.1\n"
      "log:\n  level: error\n  accesslog:\n    disabled: true\n"
      "storage:\n  filesystem:\n    rootdirectory: " +
      d +
      "/storage\n"
      "  delete:\n    enabled: true\n"
      "http:\n  addr: 127.0.0.1:" +
      std::to_string(port_) + "\n  secret: hoist-test-secret\n";
  if (options_.tls) {
    TestCa ca(d);
    ca_cert_ = ca.ca_cert;
    config += "  tls:\n    certificate: " + ca.server_cert + "\n    key: " + ca.server_key + "\n";
  }
  if (options_.auth == Auth::Basic) {
    auto h = run("htpasswd -Bbn " + options_.user + " " + options_.password);
    write_file(d + "/htpasswd", h.output);
    config += "auth:\n  htpasswd:\n    realm: hoist-test\n    path: " + d + "/htpasswd\n";
  } else if (options_.auth == Auth::Token) {
    issuer_ =
        std::make_unique<TokenIssuer>(d, options_.user, options_.password, options_.anonymous_pull);
    config +=
        "auth:\n  token:\n    realm: " + issuer_->realm() +
        "\n    service: hoist-test-registry\n    issuer: hoist-test-issuer\n    rootcertbundle: " +
        issuer_->cert_bundle() + "\n";
  }
  // Foreign layers may name URLs on loopback (docker-registry refuses all by default).
  config +=
      "validation:\n  manifests:\n    urls:\n      allow:\n"
      "        - ^https?://127\\.0\\.0\\.1(:[0-9]+)?/\n";
  write_file(d + "/config.yml", config);

  pid_ = ::fork();
  if (pid_ == 0) {
    int log = ::open((d + "/registry.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execl("/usr/bin/docker-registry", "docker-registry", "serve", (d + "/config.yml").c_str(),
            nullptr);
    ::_exit(127);
  }
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  // Ready when /v2/ answers at all (401 counts).
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "docker-registry exited: " + read_file(d + "/registry.log");
      return;
    }
    std::unique_ptr<httplib::ClientImpl> client;
    if (options_.tls) {
      auto ssl = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
      ssl->set_ca_cert_path(ca_cert_);
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>("127.0.0.1", port_);
    }
    client->set_connection_timeout(1, 0);
    if (auto res = client->Get("/v2/"); res && (res->status == 200 || res->status == 401)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "docker-registry did not answer on " + host() + ": " + read_file(d + "/registry.log");
}

RegistryServer::~RegistryServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

}  // namespace hoist_test
