#pragma once
// Image references as Docker reads them: "python" is docker.io/library/python:latest,
// "user/img" is docker.io/user/img:latest, and a first component containing '.' or ':'
// (or equal to "localhost", or holding an upper-case letter) is a registry host:
// "localhost:5000/app:v1", "ghcr.io/org/app@sha256:...". A tag and a digest may be given
// together ("app:v1@sha256:..."); then the digest is what is pulled and the tag is kept
// for display only.
//
// parse() checks the text fully (it is user input and registry input alike) and fails with
// InvalidInput naming the reference and what is wrong; a well-formed but non-sha256 digest
// is Unsupported. A parsed Reference is always normalized, so str() is the one spelling
// to compare, store and print in logs.

#include <optional>
#include <string>
#include <string_view>

#include "layers/digest.h"
#include "layers/error.h"

namespace registry {

inline constexpr std::string_view kDockerHubDomain = "docker.io";
inline constexpr std::string_view kDockerHubApiHost = "registry-1.docker.io";
inline constexpr std::string_view kDefaultTag = "latest";

class Reference {
 public:
  // Parses and normalizes. With neither tag nor digest, the tag becomes "latest".
  static layers::Result<Reference> parse(std::string_view text);

  // "docker.io", "localhost:5000", "[::1]:5000". Never empty.
  const std::string& domain() const { return domain_; }
  // The repository path inside the registry: "library/busybox", "org/app".
  const std::string& path() const { return path_; }
  // "" when only a digest was given.
  const std::string& tag() const { return tag_; }
  const std::optional<layers::Digest>& digest() const { return digest_; }

  // domain + "/" + path: "docker.io/library/busybox".
  std::string repository() const { return domain_ + "/" + path_; }
  // The full normalized reference: "docker.io/library/busybox:latest",
  // "localhost:5000/app:v1@sha256:...".
  std::string str() const;
  // As docker prints it: "busybox:latest", "user/img:v1", "localhost:5000/app:v1".
  std::string familiar() const;
  // The repository the way `docker images` shows it: "busybox", "localhost:5000/app".
  std::string familiar_repository() const;
  // Where the registry API lives: "registry-1.docker.io" for docker.io, else domain().
  std::string api_host() const;
  bool is_docker_hub() const { return domain_ == kDockerHubDomain; }

  // The same repository with another tag (and no digest). InvalidInput for a bad tag.
  layers::Result<Reference> with_tag(std::string_view tag) const;
  // The same repository pinned to `digest` (the tag is kept for display).
  Reference with_digest(const layers::Digest& digest) const;

  friend bool operator==(const Reference&, const Reference&) = default;

 private:
  std::string domain_;
  std::string path_;
  std::string tag_;
  std::optional<layers::Digest> digest_;
};

// Checks a tag alone: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. InvalidInput naming it if not.
layers::Result<void> validate_tag(std::string_view tag);

}  // namespace registry
