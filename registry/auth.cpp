#include "registry/auth.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "registry/base64.h"

namespace registry {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string read_token(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  return std::string(s.substr(start, i - start));
}

// " (invalid_grant)" from an OAuth2 error reply, printable and bounded; "" otherwise.
std::string oauth_error(const std::string& body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("error") || !doc["error"].is_string())
    return "";
  std::string code = doc["error"].get<std::string>().substr(0, 40);
  for (char c : code)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return "";
  return code.empty() ? "" : " (" + code + ")";
}

constexpr auto kTokenMargin = std::chrono::seconds(10);
constexpr int64_t kDefaultTokenSeconds = 60;

}  // namespace

// RFC 7235: challenge = scheme [ 1*SP ( token68 / #auth-param ) ], challenges separated by
// commas. A new challenge starts where a bare token is followed by a space, not '='.
Result<std::vector<Challenge>> parse_www_authenticate(std::string_view header) {
  std::vector<Challenge> out;
  size_t i = 0;
  const Error bad(ErrorKind::InvalidInput, "malformed WWW-Authenticate header");
  while (i < header.size()) {
    skip_spaces(header, i);
    if (i < header.size() && header[i] == ',') {
      ++i;
      continue;
    }
    if (i >= header.size()) break;
    std::string word = read_token(header, i);
    if (word.empty()) return bad;
    skip_spaces(header, i);
    if (i < header.size() && header[i] == '=' && !out.empty()) {
      // An auth-param of the current challenge.
      ++i;
      skip_spaces(header, i);
      std::string value;
      if (i < header.size() && header[i] == '"') {
        ++i;
        bool closed = false;
        while (i < header.size()) {
          char c = header[i++];
          if (c == '\\' && i < header.size()) {
            value += header[i++];
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value += c;
          }
        }
        if (!closed) return bad;
      } else {
        value = read_token(header, i);
      }
      out.back().params[lower(word)] = value;
      skip_spaces(header, i);
      if (i < header.size() && header[i] != ',') return bad;
      continue;
    }
    out.push_back(Challenge{lower(word), {}});
  }
  if (out.empty()) return bad;
  return out;
}

Result<TokenReply> parse_token_reply(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(ErrorKind::InvalidInput, "a malformed reply");
  TokenReply out;
  for (const char* field : {"token", "access_token"})
    if (auto it = doc.find(field);
        it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      out.token = it->get<std::string>();
      break;
    }
  if (out.token.empty()) return Error(ErrorKind::InvalidInput, "no token");
  for (char c : out.token)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return Error(ErrorKind::InvalidInput, "a malformed token");
  if (auto it = doc.find("expires_in");
      it != doc.end() && it->is_number_integer() && it->get<int64_t>() > 0)
    out.expires_in_seconds = std::min<int64_t>(it->get<int64_t>(), 24 * 3600);
  return out;
}

std::string repository_scope(std::string_view path, bool push) {
  return "repository:" + std::string(path) + (push ? ":pull,push" : ":pull");
}

std::string Authenticator::key(const std::vector<std::string>& scopes) {
  std::string k;
  for (const auto& s : scopes) k += s + " ";
  return k;
}

std::optional<std::string> Authenticator::authorization(const std::vector<std::string>& scopes) {
  std::lock_guard lock(mu_);
  if (use_basic_ && credentials_)
    return "Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
  auto it = tokens_.find(key(scopes));
  if (it == tokens_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() >= it->second.expires) {
    tokens_.erase(it);
    return std::nullopt;
  }
  return "Bearer " + it->second.value;
}

Result<void> Authenticator::on_challenge(std::string_view www_authenticate,
                                         const std::vector<std::string>& scopes,
                                         const std::optional<std::string>& sent) {
  std::lock_guard fetching(fetch_mu_);
  if (auto now = authorization(scopes); now && now != sent) return {};
  auto challenges = parse_www_authenticate(www_authenticate);
  if (!challenges)
    return Error(ErrorKind::Unauthorized,
                 registry_ + " sent an unreadable authentication challenge");
  for (const Challenge& c : *challenges) {
    if (c.scheme == "bearer") {
      if (!c.params.contains("realm"))
        return Error(ErrorKind::Unauthorized,
                     registry_ + " sent a Bearer challenge without a realm");
      auto token = fetch_token(c, scopes);
      if (!token) return std::move(token).error();
      std::lock_guard lock(mu_);
      bearer_ = c;
      tokens_[key(scopes)] = std::move(*token);
      return {};
    }
  }
  for (const Challenge& c : *challenges) {
    if (c.scheme == "basic") {
      std::lock_guard lock(mu_);
      if (!credentials_ || credentials_->username.empty())
        return Error(ErrorKind::Unauthorized, registry_ + " wants a user name and password");
      if (use_basic_)  // we already sent them, and they were refused
        return Error(ErrorKind::Unauthorized, registry_ + " refused the user name and password");
      use_basic_ = true;
      return {};
    }
  }
  return Error(ErrorKind::Unsupported,
               registry_ + " asks for an authentication scheme hoist does not speak (" +
                   (*challenges)[0].scheme + ")");
}

Result<Authenticator::Token> Authenticator::fetch_token(const Challenge& challenge,
                                                        const std::vector<std::string>& scopes) {
  auto realm = Url::parse(challenge.params.at("realm"));
  if (!realm) return Error(ErrorKind::Unauthorized, registry_ + " names a bad token realm");
  if (realm->scheme == "http" && !allow_plain_http(realm->host, http_.tls().insecure_hosts))
    return Error(ErrorKind::Unauthorized, registry_ + " names a plain-HTTP token realm (" +
                                              realm->host +
                                              "); refusing to send credentials there");
  std::string service;
  if (auto it = challenge.params.find("service"); it != challenge.params.end())
    service = it->second;

  HttpRequest req;
  req.url = *realm;
  std::optional<Credentials> creds;
  {
    std::lock_guard lock(mu_);
    creds = credentials_;
  }
  if (creds && !creds->identity_token.empty()) {
    // OAuth2 refresh-token grant, as Docker does with an identity token: a form POST whose
    // one `scope` field lists the scopes space-separated. The password is never sent.
    req.method = "POST";
    req.content_type = "application/x-www-form-urlencoded";
    std::string scope_list;
    for (const auto& s : scopes) scope_list += (scope_list.empty() ? "" : " ") + s;
    req.body = "grant_type=refresh_token&client_id=hoist&refresh_token=" +
               url_encode(creds->identity_token) + "&service=" + url_encode(service);
    if (!scope_list.empty()) req.body += "&scope=" + url_encode(scope_list);
  } else {
    std::string query;
    if (!service.empty()) query += "service=" + url_encode(service);
    for (const auto& s : scopes)
      query += std::string(query.empty() ? "" : "&") + "scope=" + url_encode(s);
    if (!query.empty())
      req.url.target += (req.url.target.find('?') == std::string::npos ? "?" : "&") + query;
    if (creds && !creds->username.empty())
      req.headers.emplace("Authorization",
                          "Basic " + base64_encode(creds->username + ":" + creds->password));
  }
  auto reply = http_.send(req);
  if (!reply) return std::move(reply).error().context("getting a token for " + registry_);
  const bool oauth = req.method == "POST";
  if (reply->status == 401 || reply->status == 403 || (oauth && reply->status == 400))
    return Error(ErrorKind::Unauthorized,
                 "the token service for " + registry_ + " refused " +
                     (oauth   ? std::string("the stored identity token") + oauth_error(reply->body)
                      : creds ? std::string("the stored credentials")
                              : std::string("anonymous access")));
  if (!reply->ok())
    return Error(ErrorKind::Unauthorized, "the token service for " + registry_ + " answered " +
                                              std::to_string(reply->status));
  if (reply->body_truncated)
    return Error(ErrorKind::Unauthorized, "the token reply from " + reply->url.host + " for " +
                                              registry_ + " is larger than " +
                                              std::to_string(kMaxBufferedBody) + " bytes");
  auto parsed = parse_token_reply(reply->body);
  if (!parsed)
    return Error(ErrorKind::Unauthorized,
                 "the token service for " + registry_ + " sent " + parsed.error().message());
  Token token;
  token.value = std::move(parsed->token);
  // As Docker: a lifetime under a minute (or none) counts as a minute.
  const int64_t seconds = std::max(parsed->expires_in_seconds, kDefaultTokenSeconds);
  token.expires = std::chrono::steady_clock::now() + std::chrono::seconds(seconds) - kTokenMargin;
  return token;
}

}  // namespace registry
