#include <catch2/catch.hpp>

#include <cerrno>
#include <iomanip>
#include <string>

#include "layers/error.h"

TEST_CASE("error: context reads outermost first, cause last", "[layers][error]") {
  layers::Error e = layers::Error::from_errno(ENOSPC, "fsync " + layers::quoted("/x/.tmp-1"));
  layers::Error outer = e.context("storing layer").context("COPY model.bin /opt/");
  CHECK(outer.kind() == layers::ErrorKind::Io);
  CHECK(outer.describe() ==
        "COPY model.bin /opt/: storing layer: fsync \"/x/.tmp-1\": No space left on device");
}

// With <iomanip> seen, argument-dependent lookup also finds std::quoted for a std::string
// argument; layers::quoted must still be the one chosen, here as everywhere (it would not
// compile otherwise: std::quoted's result does not add to a string).
TEST_CASE("error: quoted is layers' own for std::string and C strings, even beside <iomanip>",
          "[layers][error]") {
  using layers::quoted;
  std::string path = "/a b";
  const std::string const_path = "/c";
  CHECK("at " + quoted(path) == "at \"/a b\"");
  CHECK("at " + quoted(const_path) == "at \"/c\"");
  CHECK("at " + quoted(path + "/d") == "at \"/a b/d\"");
  CHECK("at " + quoted("/e") == "at \"/e\"");
  CHECK("at " + quoted(std::string_view("/f")) == "at \"/f\"");
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
