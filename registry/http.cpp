#include "registry/http.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cctype>
#include <filesystem>
#include <memory>

namespace registry {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// Splits "host:port" / "[v6]:port" / "host" into host and port (default by scheme).
bool split_host_port(const std::string& authority, const std::string& scheme, std::string* host,
                     int* port) {
  *port = scheme == "https" ? 443 : 80;
  std::string_view a = authority;
  std::string_view port_text;
  if (a.starts_with('[')) {
    auto close = a.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(a.substr(1, close - 1));
    a.remove_prefix(close + 1);
    if (!a.empty()) {
      if (a[0] != ':') return false;
      port_text = a.substr(1);
    }
  } else {
    auto colon = a.rfind(':');
    *host = std::string(a.substr(0, colon));
    if (colon != std::string_view::npos) port_text = a.substr(colon + 1);
  }
  if (host->empty()) return false;
  if (!port_text.empty()) {
    if (port_text.size() > 5) return false;
    int p = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      p = p * 10 + (c - '0');
    }
    if (p == 0 || p > 65535) return false;
    *port = p;
  }
  return true;
}

std::string host_without_port(std::string_view authority) {
  std::string host;
  int port = 0;
  if (!split_host_port(std::string(authority), "https", &host, &port))
    return std::string(authority);
  return host;
}

X509_STORE* build_trust_store(const TlsOptions& tls, const std::string& authority) {
  X509_STORE* store = X509_STORE_new();
  if (!store) return nullptr;
  X509_STORE_set_default_paths(store);
  if (!tls.ca_file.empty()) X509_STORE_load_file(store, tls.ca_file.c_str());
  if (!tls.certs_dir.empty()) {
    std::error_code ec;
    // Docker looks in certs.d/HOST:PORT/ (or HOST/ for the default port).
    for (const std::string& name : {authority, host_without_port(authority)}) {
      std::filesystem::path dir = std::filesystem::path(tls.certs_dir) / name;
      for (auto it = std::filesystem::directory_iterator(dir, ec);
           !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (it->path().extension() == ".crt") X509_STORE_load_file(store, it->path().c_str());
      }
      ec.clear();
    }
  }
  return store;
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    url.scheme = "https";
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    url.scheme = "http";
    rest.remove_prefix(7);
  } else {
    return Error(ErrorKind::InvalidInput, "not an http(s) URL: " + layers::quoted(text));
  }
  auto slash = rest.find_first_of("/?");
  url.host = std::string(rest.substr(0, slash));
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.target[0] == '?') url.target = "/" + url.target;
  std::string host;
  int port = 0;
  if (url.host.find('@') != std::string::npos ||
      !split_host_port(url.host, url.scheme, &host, &port))
    return Error(ErrorKind::InvalidInput, "bad host in URL " + layers::quoted(text));
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Error(ErrorKind::InvalidInput, "control character or space in URL");
  return url;
}

Result<Url> Url::resolve(std::string_view location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return parse(location);
  if (location.starts_with("//")) return parse(scheme + ":" + std::string(location));
  if (location.starts_with("/")) return parse(scheme + "://" + host + std::string(location));
  return Error(ErrorKind::InvalidInput,
               "unsupported relative Location " + layers::quoted(location));
}

std::string Url::display() const {
  return scheme + "://" + host + target.substr(0, target.find('?'));
}

std::string url_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool allow_plain_http(std::string_view authority, const std::vector<std::string>& insecure_hosts) {
  for (const std::string& h : insecure_hosts)
    if (h == authority || h == host_without_port(authority)) return true;
  std::string host = host_without_port(authority);
  if (host == "localhost" || host == "::1") return true;
  if (host.starts_with("127.")) {
    for (char c : host)
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
    return true;
  }
  return false;
}

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpClient::scheme_for(std::string_view authority) const {
  if (!allow_plain_http(authority, tls_.insecure_hosts)) return "https";
  std::string host;
  int port = 0;
  if (!split_host_port(std::string(authority), "https", &host, &port)) return "https";
  httplib::SSLClient probe(host, port);
  probe.enable_server_certificate_verification(true);
  if (X509_STORE* store = build_trust_store(tls_, std::string(authority)))
    probe.set_ca_cert_store(store);
  probe.set_connection_timeout(5, 0);
  probe.set_read_timeout(5, 0);
  auto result = probe.Get("/v2/");
  if (result || result.error() == httplib::Error::SSLServerVerification) return "https";
  return "http";
}

Result<HttpResponse> HttpClient::send(HttpRequest request) const {
  const std::string original_host = request.url.host;
  for (int hop = 0;; ++hop) {
    auto response = send_once(request);
    if (!response) return response;
    if (!request.follow_redirects || !is_redirect(response->status)) return response;
    if (hop == kMaxRedirects)
      return Error(ErrorKind::Network, "too many redirects from " + request.url.display());
    std::string location = response->header("Location");
    auto next = request.url.resolve(location);
    if (!next)
      return std::move(next).error().context("following a redirect from " + request.url.display());
    if (next->scheme == "http" && request.url.scheme == "https")
      return Error(ErrorKind::Network,
                   "refusing a redirect from HTTPS to plain HTTP: " + next->display());
    // The registry's credentials are for the registry only.
    if (next->host != original_host) request.headers.erase("Authorization");
    if (response->status == 303) {
      request.method = "GET";
      request.body.clear();
      request.body_provider = nullptr;
    }
    request.url = std::move(*next);
  }
}

Result<HttpResponse> HttpClient::send_once(const HttpRequest& request) const {
  const Url& url = request.url;
  std::string host;
  int port = 0;
  split_host_port(url.host, url.scheme, &host, &port);
  std::unique_ptr<httplib::ClientImpl> client;
  if (url.scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(host, port);
    ssl->enable_server_certificate_verification(true);
    if (X509_STORE* store = build_trust_store(tls_, url.host)) ssl->set_ca_cert_store(store);
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(host, port);
  }
  client->set_connection_timeout(15, 0);
  client->set_read_timeout(60, 0);
  client->set_write_timeout(60, 0);
  client->set_follow_location(false);
  client->set_decompress(false);  // blob bytes must reach the digest check untouched
  client->set_keep_alive(false);

  httplib::Request req;
  req.method = request.method;
  req.path = url.target;
  req.headers = request.headers;
  if (!req.has_header("Accept-Encoding")) req.set_header("Accept-Encoding", "identity");
  if (!req.has_header("User-Agent")) req.set_header("User-Agent", "hoist/0.1");
  if (request.body_provider) {
    req.content_length_ = request.body_size;
    req.content_provider_ = request.body_provider;
    req.set_header("Content-Length", std::to_string(request.body_size));
    req.set_header("Content-Type", request.content_type.empty() ? "application/octet-stream"
                                                                : request.content_type);
  } else if (!request.body.empty() || request.method == "PUT" || request.method == "POST" ||
             request.method == "PATCH") {
    req.body = request.body;
    if (!request.content_type.empty()) req.set_header("Content-Type", request.content_type);
    req.set_header("Content-Length", std::to_string(request.body.size()));
  }

  HttpResponse out;
  out.url = url;
  bool streaming = false;
  bool receiver_failed = false;
  req.response_handler = [&](const httplib::Response& head) {
    out.status = head.status;
    streaming = request.on_body && head.status >= 200 && head.status < 300;
    if (head.status >= 200 && head.status < 300 && request.on_head) return request.on_head(head);
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (streaming) {
      if (!request.on_body(data, size)) {
        receiver_failed = true;
        return false;
      }
      return true;
    }
    if (out.body.size() < kMaxErrorBody)
      out.body.append(data, std::min(size, kMaxErrorBody - out.body.size()));
    return true;
  };

  auto result = client->send(req);
  if (!result) {
    std::string why =
        receiver_failed ? "cancelled by the receiver" : httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification)
      why = "the server's TLS certificate is not trusted (use --tls-ca FILE or " + tls_.certs_dir +
            "/" + url.host + "/ca.crt)";
    return Error(ErrorKind::Network, request.method + " " + url.display() + ": " + why);
  }
  out.status = result->status;
  out.headers = result->headers;
  if (!streaming && out.body.empty() && !result->body.empty())
    out.body = result->body.substr(0, kMaxErrorBody);
  return out;
}

}  // namespace registry
