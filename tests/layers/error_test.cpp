#include <catch2/catch.hpp>

#include <cerrno>

#include "layers/error.h"

TEST_CASE("error: context reads outermost first, cause last", "[layers][error]") {
  layers::Error e = layers::Error::from_errno(ENOSPC, "fsync " + layers::quoted("/x/.tmp-1"));
  layers::Error outer = e.context("storing layer").context("COPY model.bin /opt/");
  CHECK(outer.kind() == layers::ErrorKind::Io);
  CHECK(outer.describe() ==
        "COPY model.bin /opt/: storing layer: fsync \"/x/.tmp-1\": No space left on device");
}

TEST_CASE("error: Result carries a value or an error", "[layers][error]") {
  layers::Result<int> ok = 5;
  REQUIRE(ok);
  CHECK(*ok == 5);
  layers::Result<int> bad = layers::Error(layers::ErrorKind::NotFound, "no such blob");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind() == layers::ErrorKind::NotFound);
  layers::Result<void> none;
  CHECK(none);
}
