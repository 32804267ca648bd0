#include <catch2/catch.hpp>

#include "layers/digest.h"

TEST_CASE("digest: sha256 of known strings", "[layers][digest]") {
  CHECK(layers::Digest::of("").str() ==
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  layers::Sha256 h;
  h.update("hello ");
  h.update("world");
  CHECK(h.bytes() == 11);
  CHECK(h.finish() == layers::Digest::of("hello world"));
}

TEST_CASE("digest: parse accepts only well-formed sha256", "[layers][digest]") {
  auto [text, kind] = GENERATE(table<std::string, int>({
      {"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", -1},
      {"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
       int(layers::ErrorKind::InvalidInput)},
      {"sha256:../../etc/passwd", int(layers::ErrorKind::InvalidInput)},
      {"sha256:", int(layers::ErrorKind::InvalidInput)},
      {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       int(layers::ErrorKind::InvalidInput)},
      {"sha512:abcd", int(layers::ErrorKind::Unsupported)},
      {"sha/512:abcd", int(layers::ErrorKind::InvalidInput)},
  }));
  CAPTURE(text);
  auto d = layers::Digest::parse(text);
  if (kind < 0) {
    REQUIRE(d);
    CHECK(d->str() == text);
  } else {
    REQUIRE_FALSE(d);
    CHECK(int(d.error().kind()) == kind);
  }
}
