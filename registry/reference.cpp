#include "registry/reference.h"

#include <cctype>

namespace registry {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;

namespace {

// Docker refuses longer repository names (domain + "/" + path).
constexpr size_t kMaxNameLength = 255;
// Anything longer cannot be a reference; refuse before looking at it.
constexpr size_t kMaxReferenceLength = 1024;
constexpr size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

Error invalid(std::string_view text, std::string_view why) {
  return Error(ErrorKind::InvalidInput, "invalid reference " + quoted(text) + ": " + std::string(why));
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+
bool valid_path_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (is_lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < c.size() && !is_lower_alnum(c[i])) ++i;
    std::string_view sep = c.substr(start, i - start);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
  }
  return true;
}

// domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
bool valid_domain_component(std::string_view c) {
  if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back())) return false;
  for (char ch : c)
    if (!is_alnum(ch) && ch != '-') return false;
  return true;
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

// host[:port], where host is dotted domain components or a bracketed IPv6 address.
bool valid_domain(std::string_view domain) {
  std::string_view host = domain;
  std::string_view port;
  bool has_port = false;
  if (domain.starts_with('[')) {
    size_t close = domain.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : domain.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    std::string_view after = domain.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      return valid_port(after.substr(1));
    }
    return true;
  }
  if (size_t colon = domain.find(':'); colon != std::string_view::npos) {
    host = domain.substr(0, colon);
    port = domain.substr(colon + 1);
    has_port = true;
  }
  if (has_port && !valid_port(port)) return false;
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view component =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!valid_domain_component(component)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

Result<void> validate_tag(std::string_view tag) {
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (tag.empty() || tag.size() > kMaxTagLength || !word(tag.front()))
    return Error(ErrorKind::InvalidInput,
                 "invalid tag " + quoted(tag) + ": want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  for (char c : tag)
    if (!word(c) && c != '.' && c != '-')
      return Error(ErrorKind::InvalidInput,
                   "invalid tag " + quoted(tag) + ": want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  return {};
}

Result<Reference> Reference::parse(std::string_view text) {
  if (text.empty()) return Error(ErrorKind::InvalidInput, "invalid reference: empty name");
  if (text.size() > kMaxReferenceLength)
    return Error(ErrorKind::InvalidInput, "invalid reference: longer than " +
                                              std::to_string(kMaxReferenceLength) + " characters");
  Reference ref;
  std::string_view rest = text;

  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    auto digest = layers::Digest::parse(rest.substr(at + 1));
    if (!digest) return std::move(digest).error().context("invalid reference " + quoted(text));
    ref.digest_ = std::move(*digest);
    rest = rest.substr(0, at);
  }

  // A ':' after the last '/' starts the tag; one before it belongs to a host:port.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (auto ok = validate_tag(tag); !ok) return ok.error().context("invalid reference " + quoted(text));
    ref.tag_ = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return invalid(text, "empty repository name");

  std::string_view domain = kDockerHubDomain;
  std::string_view path = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        has_upper(first)) {
      domain = first;
      path = rest.substr(slash + 1);
    }
  }
  if (!valid_domain(domain)) return invalid(text, "invalid registry host " + quoted(domain));
  if (path.empty()) return invalid(text, "empty repository path");
  if (has_upper(path)) return invalid(text, "repository name must be lowercase");

  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view component = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!valid_path_component(component))
      return invalid(text, "invalid repository path component " + quoted(component) +
                               " (want lowercase letters and digits, separated by '.', '_', "
                               "'__' or dashes)");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }

  ref.domain_ = std::string(domain);
  if (ref.domain_ == "index.docker.io") ref.domain_ = kDockerHubDomain;
  ref.path_ = std::string(path);
  if (ref.domain_ == kDockerHubDomain && ref.path_.find('/') == std::string::npos)
    ref.path_ = "library/" + ref.path_;
  if (ref.domain_.size() + 1 + ref.path_.size() > kMaxNameLength)
    return invalid(text, "repository name must not be more than " +
                             std::to_string(kMaxNameLength) + " characters");
  if (ref.tag_.empty() && !ref.digest_) ref.tag_ = kDefaultTag;
  return ref;
}

std::string Reference::str() const {
  std::string out = repository();
  if (!tag_.empty()) out += ":" + tag_;
  if (digest_) out += "@" + digest_->str();
  return out;
}

std::string Reference::familiar_repository() const {
  if (!is_docker_hub()) return repository();
  std::string_view p = path_;
  if (p.starts_with("library/") && p.find('/', 8) == std::string_view::npos) p.remove_prefix(8);
  return std::string(p);
}

std::string Reference::familiar() const {
  std::string out = familiar_repository();
  if (!tag_.empty()) out += ":" + tag_;
  if (digest_) out += "@" + digest_->str();
  return out;
}

std::string Reference::api_host() const {
  return is_docker_hub() ? std::string(kDockerHubApiHost) : domain_;
}

Result<Reference> Reference::with_tag(std::string_view tag) const {
  if (auto ok = validate_tag(tag); !ok) return ok.error();
  Reference out = *this;
  out.tag_ = std::string(tag);
  out.digest_.reset();
  return out;
}

Reference Reference::with_digest(const layers::Digest& digest) const {
  Reference out = *this;
  out.digest_ = digest;
  return out;
}

}  // namespace registry
