#include <catch2/catch.hpp>

#include "registry/reference.h"

using registry::Reference;

namespace {
const std::string kHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}

TEST_CASE("reference: normalized the way docker does it", "[registry][reference]") {
  auto [text, domain, path, tag, full, familiar] =
      GENERATE(table<std::string, std::string, std::string, std::string, std::string, std::string>({
          {"python", "docker.io", "library/python", "latest", "docker.io/library/python:latest",
           "python:latest"},
          {"busybox:1.36", "docker.io", "library/busybox", "1.36",
           "docker.io/library/busybox:1.36", "busybox:1.36"},
          {"user/img", "docker.io", "user/img", "latest", "docker.io/user/img:latest",
           "user/img:latest"},
          {"docker.io/library/alpine:3", "docker.io", "library/alpine", "3",
           "docker.io/library/alpine:3", "alpine:3"},
          {"index.docker.io/foo/bar", "docker.io", "foo/bar", "latest",
           "docker.io/foo/bar:latest", "foo/bar:latest"},
          {"localhost/app", "localhost", "app", "latest", "localhost/app:latest",
           "localhost/app:latest"},
          {"localhost:5000/app:v1", "localhost:5000", "app", "v1", "localhost:5000/app:v1",
           "localhost:5000/app:v1"},
          {"127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", "127.0.0.1:5000/a/b/c:t",
           "127.0.0.1:5000/a/b/c:t"},
          {"ghcr.io/org/my-app__x.y", "ghcr.io", "org/my-app__x.y", "latest",
           "ghcr.io/org/my-app__x.y:latest", "ghcr.io/org/my-app__x.y:latest"},
          {"Registry/app", "Registry", "app", "latest", "Registry/app:latest",
           "Registry/app:latest"},
          {"[::1]:5000/app:v2", "[::1]:5000", "app", "v2", "[::1]:5000/app:v2",
           "[::1]:5000/app:v2"},
          {"docker.io/library/a/b", "docker.io", "library/a/b", "latest",
           "docker.io/library/a/b:latest", "library/a/b:latest"},
          {"a:_Tag-1.0", "docker.io", "library/a", "_Tag-1.0", "docker.io/library/a:_Tag-1.0",
           "a:_Tag-1.0"},
      }));
  CAPTURE(text);
  auto ref = Reference::parse(text);
  REQUIRE(ref);
  CHECK(ref->domain() == domain);
  CHECK(ref->path() == path);
  CHECK(ref->tag() == tag);
  CHECK_FALSE(ref->digest());
  CHECK(ref->str() == full);
  CHECK(ref->familiar() == familiar);
  // Normalizing is idempotent: the full spelling parses to the same reference.
  auto again = Reference::parse(ref->str());
  REQUIRE(again);
  CHECK(*again == *ref);
}

TEST_CASE("reference: digests, alone or with a tag", "[registry][reference]") {
  auto only = Reference::parse("busybox@sha256:" + kHex);
  REQUIRE(only);
  CHECK(only->tag().empty());
  REQUIRE(only->digest());
  CHECK(only->digest()->hex() == kHex);
  CHECK(only->str() == "docker.io/library/busybox@sha256:" + kHex);
  CHECK(only->familiar() == "busybox@sha256:" + kHex);

  auto both = Reference::parse("localhost:5000/app:v1@sha256:" + kHex);
  REQUIRE(both);
  CHECK(both->domain() == "localhost:5000");
  CHECK(both->tag() == "v1");
  REQUIRE(both->digest());
  CHECK(both->str() == "localhost:5000/app:v1@sha256:" + kHex);
}

TEST_CASE("reference: api host", "[registry][reference]") {
  auto [text, host] = GENERATE(table<std::string, std::string>({
      {"busybox", "registry-1.docker.io"},
      {"docker.io/user/x", "registry-1.docker.io"},
      {"localhost:5000/x", "localhost:5000"},
      {"quay.io/a/b", "quay.io"},
  }));
  CAPTURE(text);
  auto ref = Reference::parse(text);
  REQUIRE(ref);
  CHECK(ref->api_host() == host);
}

TEST_CASE("reference: malformed names are refused with the reason", "[registry][reference]") {
  auto [text, kind, fragment] = GENERATE(table<std::string, layers::ErrorKind, std::string>({
      {"", layers::ErrorKind::InvalidInput, "empty"},
      {"Busybox", layers::ErrorKind::InvalidInput, "must be lowercase"},
      {"user/Img", layers::ErrorKind::InvalidInput, "must be lowercase"},
      {"busybox:", layers::ErrorKind::InvalidInput, "invalid tag"},
      {"busybox:-x", layers::ErrorKind::InvalidInput, "invalid tag"},
      {"busybox:a/b", layers::ErrorKind::InvalidInput, "invalid registry host"},
      {"busybox:" + std::string(129, 'a'), layers::ErrorKind::InvalidInput, "invalid tag"},
      {"a//b", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"a/b/", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"-a", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"a..b", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"a___b", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"a b", layers::ErrorKind::InvalidInput, "invalid repository path component"},
      {"localhost:5000/", layers::ErrorKind::InvalidInput, "empty repository path"},
      {"localhost:99999999/a", layers::ErrorKind::InvalidInput, "invalid registry host"},
      {"-bad.host/a", layers::ErrorKind::InvalidInput, "invalid registry host"},
      {"[zz]:5000/a", layers::ErrorKind::InvalidInput, "invalid registry host"},
      {":tag", layers::ErrorKind::InvalidInput, "empty repository name"},
      {"a@sha256:abc", layers::ErrorKind::InvalidInput, "invalid sha256 digest"},
      {"a@sha512:" + std::string(128, 'a'), layers::ErrorKind::Unsupported, "not supported"},
      {"a@", layers::ErrorKind::InvalidInput, "invalid digest"},
      {std::string(300, 'a'), layers::ErrorKind::InvalidInput, "more than 255"},
      {std::string(2000, 'a'), layers::ErrorKind::InvalidInput, "longer than"},
  }));
  CAPTURE(text);
  auto ref = Reference::parse(text);
  REQUIRE_FALSE(ref);
  CHECK(ref.error().kind() == kind);
  CHECK_THAT(ref.error().message(), Catch::Contains(fragment));
}

TEST_CASE("reference: with_tag and with_digest", "[registry][reference]") {
  auto ref = Reference::parse("busybox:1");
  REQUIRE(ref);
  auto retagged = ref->with_tag("2");
  REQUIRE(retagged);
  CHECK(retagged->str() == "docker.io/library/busybox:2");
  CHECK_FALSE(ref->with_tag("bad tag"));
  auto digest = layers::Digest::from_hex(kHex);
  REQUIRE(digest);
  CHECK(ref->with_digest(*digest).str() == "docker.io/library/busybox:1@sha256:" + kHex);
}
