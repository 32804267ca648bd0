#include <catch2/catch.hpp>

#include "builder/cli/store_access.h"

using namespace builder::cli;

TEST_CASE("store access: sizes in docker's units", "[builder][store_access]") {
  auto [bytes, text] = GENERATE(table<int64_t, std::string>({
      {0, "0B"},
      {512, "512B"},
      {12345, "12.3kB"},
      {1043000, "1.04MB"},
      {123456789, "123MB"},
      {1500000000, "1.5GB"},
  }));
  CHECK(human_size(bytes) == text);
}

TEST_CASE("store access: ages as docker words them", "[builder][store_access]") {
  const int64_t now = 1700000000;  // 2023-11-14T22:13:20Z
  auto [created, text] = GENERATE(table<std::string, std::string>({
      {"2023-11-14T22:13:20Z", "Less than a second ago"},
      {"2023-11-14T22:13:15Z", "5 seconds ago"},
      {"2023-11-14T22:12:20Z", "About a minute ago"},
      {"2023-11-14T22:03:20.123456789Z", "10 minutes ago"},
      {"2023-11-14T21:13:20Z", "About an hour ago"},
      {"2023-11-14T23:13:20+02:00", "About an hour ago"},
      {"2023-11-10T22:13:20Z", "4 days ago"},
      {"2023-10-24T22:13:20Z", "3 weeks ago"},
      {"2023-06-14T22:13:20Z", "5 months ago"},
      {"2020-11-14T22:13:20Z", "3 years ago"},
      {"", "N/A"},
      {"yesterday", "N/A"},
  }));
  CAPTURE(created);
  CHECK_THAT(human_age(created, now), Catch::EndsWith(text));
}

TEST_CASE("store access: names are normalized and shown familiar", "[builder][store_access]") {
  auto name = normalized_name("busybox");
  REQUIRE(name);
  CHECK(*name == "docker.io/library/busybox:latest");
  CHECK(familiar_name(*name) == "busybox:latest");
  CHECK(repository_and_tag("localhost:5000/a/b:v1") == std::pair<std::string, std::string>{"localhost:5000/a/b", "v1"});
  auto digest_name = normalized_name(
      "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  REQUIRE_FALSE(digest_name);
  CHECK_THAT(digest_name.error().message(), Catch::Contains("cannot name a digest"));
}
