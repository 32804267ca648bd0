#pragma once
// One HTTP exchange with a registry (or its token realm, or the blob storage it redirects
// to), over cpp-httplib. This layer knows URLs, TLS and redirects, nothing of auth:
//
//  - HTTPS always verifies the server certificate: the system trust store, plus
//    TlsOptions::ca_file, plus every *.crt in CERTS_DIR/HOST/ (Docker's certs.d layout).
//  - Plain HTTP is used only for hosts that allow_plain_http() accepts: localhost,
//    127.0.0.0/8, [::1], and hosts named as insecure registries.
//  - Redirects (301/302/303/307/308) are followed by us, at most kMaxRedirects, and the
//    Authorization header is dropped when the redirect leaves the original host (S3-style
//    blob storage must never see the registry's token).
//  - Response bodies of 2xx replies go to HttpRequest::on_body as they arrive when it is
//    set (nothing is buffered); other replies (error bodies, token replies) are buffered up
//    to kMaxBufferedBody bytes, and the connection is cut there (HttpResponse::
//    body_truncated), so an endless body costs at most that much.
//  - Every exchange is bounded in time by HttpLimits: connecting, no byte moving either way
//    for `idle` ("no data for 30 s"), and a transfer slower than min_bytes_per_second over
//    such a window (a 1-byte-per-second reply). The error names the host.
//
// Failures: a connection-level failure (refused, reset, timeout, too slow, TLS) is
// ErrorKind::Network, naming the method and URL; a reply of any status is a value. A
// transfer stopped by on_body / on_head returning false is InvalidInput (the callback
// keeps its own reason): retrying would fetch the same refused bytes.

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace registry {

struct Url {
  std::string scheme;  // "https" or "http"
  std::string host;    // "example.com", "127.0.0.1:5000", "[::1]:5000"
  std::string target;  // "/v2/app/blobs/sha256:..?x=y"; always starts with '/'

  // Parses an absolute http(s) URL. InvalidInput otherwise.
  static layers::Result<Url> parse(std::string_view text);
  // Resolves a Location header against the URL it came from (absolute, "//host/x", "/x").
  layers::Result<Url> resolve(std::string_view location) const;
  std::string str() const { return scheme + "://" + host + target; }
  // The URL without its query, for messages (queries may carry upload state or signatures).
  std::string display() const;
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view text);

struct TlsOptions {
  std::string ca_file;                            // --tls-ca FILE, "" for none
  std::string certs_dir = "/etc/docker/certs.d";  // CERTS_DIR/HOST/*.crt are trusted
  std::vector<std::string> insecure_hosts;        // --insecure-registry HOST (host[:port])
};

bool allow_plain_http(std::string_view host, const std::vector<std::string>& insecure_hosts);

// Time limits on every exchange, so a registry cannot stall hoist.
struct HttpLimits {
  std::chrono::seconds connect{15};
  // No byte sent or received for this long fails the exchange; so does moving fewer than
  // min_bytes_per_second * idle bytes in any such window (checked once a window is full).
  std::chrono::seconds idle{30};
  uint64_t min_bytes_per_second = 1024;
  // HOIST_REGISTRY_TIMEOUT=SECONDS (1..3600) sets `idle` and `connect`; unset: defaults.
  // InvalidInput naming the variable when it is not such a number.
  static layers::Result<HttpLimits> from_env();
};

struct HttpRequest {
  std::string method = "GET";
  Url url;
  httplib::Headers headers;
  std::string body;  // sent when body_provider is not set (with content_type)
  std::string content_type;
  // A streamed request body of exactly body_size bytes: provider(offset, length, sink).
  uint64_t body_size = 0;
  httplib::ContentProvider body_provider;
  // The body_provider's body is of a length not known before it ends, sent chunked
  // (Transfer-Encoding: chunked; body_size unused): provider(offset, 0, sink) writes some
  // bytes, never none, or calls sink.done() at the end.
  bool body_chunked = false;
  // Receives the body of a 2xx reply; returning false aborts the exchange (Network error
  // "cancelled" unless the callback saved its own reason).
  std::function<bool(const char* data, size_t size)> on_body;
  // Called once with a 2xx reply's headers before its body (to check Content-Range etc.).
  std::function<bool(const httplib::Response& head)> on_head;
  bool follow_redirects = true;
};

struct HttpResponse {
  int status = 0;
  httplib::Headers headers;
  std::string body;  // empty when streamed to on_body
  bool body_truncated = false;  // the body was longer than kMaxBufferedBody; cut there
  Url url;                      // the URL that answered (after redirects)

  std::string header(const std::string& name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

inline constexpr int kMaxRedirects = 5;
inline constexpr size_t kMaxBufferedBody = 1 << 20;

class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls, HttpLimits limits = {})
      : tls_(std::move(tls)), limits_(limits) {}
  const TlsOptions& tls() const { return tls_; }

  // The scheme to reach a registry host with. "https" unless allow_plain_http(host); for
  // those, as Docker does, HTTPS is tried first (one probe of /v2/) and plain HTTP is
  // used only when the host does not speak TLS at all. A TLS host whose certificate is not
  // trusted stays "https", so the user sees the certificate error rather than a downgrade.
  std::string scheme_for(std::string_view host) const;

  // Sends `request` (following redirects). Thread-safe: each call uses its own connection.
  layers::Result<HttpResponse> send(HttpRequest request) const;

 private:
  layers::Result<HttpResponse> send_once(const HttpRequest& request) const;
  TlsOptions tls_;
  HttpLimits limits_;
};

}  // namespace registry
