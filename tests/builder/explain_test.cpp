// hoist build --explain: each step that is not CACHED says which input changed since the
// last build of that step.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using build_test::count_lines_with;

namespace {

// The "not cached: ..." line of the step whose title contains `title`, or "".
std::string why_not_cached(const std::string& progress, const std::string& title) {
  for (const auto& line : build_test::step_lines(progress, title))
    if (line.starts_with("not cached: ")) return line;
  return "";
}

}  // namespace

TEST_CASE("explain: an edited context file is named, with content or mode", "[builder][explain]") {
  BuildFixture f;
  const char* dockerfile =
      "FROM busybox:latest\n"
      "COPY keep.txt /keep.txt\n"
      "COPY src/ /src/\n"
      "RUN cat /src/* > /all\n";
  f.write("keep.txt", "k\n");
  f.write("src/a.txt", "a\n");
  f.write("src/b.txt", "b\n");
  auto first = f.build(dockerfile, "t", {"--explain"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(why_not_cached(first.err, "COPY src/") == "not cached: no earlier build of this step");

  SECTION("content") {
    f.write("src/b.txt", "changed\n");
    auto r = f.build(dockerfile, "t", {"--explain"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(why_not_cached(r.err, "COPY keep.txt").empty());  // cached
    CHECK(why_not_cached(r.err, "COPY src/") == "not cached: file src/b.txt: content changed");
    CHECK_THAT(why_not_cached(r.err, "RUN cat"), Catch::StartsWith("not cached: an earlier step changed"));
    CHECK(count_lines_with(r.err, "not cached") == 2);
  }
  SECTION("mode") {
    REQUIRE(::chmod((f.context() + "/src/a.txt").c_str(), 0755) == 0);
    auto r = f.build(dockerfile, "t", {"--explain"});
    INFO(r.err);
    CHECK(why_not_cached(r.err, "COPY src/") == "not cached: file src/a.txt: mode 0644 -> 0755");
  }
  SECTION("added") {
    f.write("src/c.txt", "c\n");
    auto r = f.build(dockerfile, "t", {"--explain"});
    INFO(r.err);
    CHECK(why_not_cached(r.err, "COPY src/") == "not cached: file src/c.txt: added");
  }
  SECTION("without --explain nothing is said, and a later --explain compares with that build") {
    f.write("src/b.txt", "one\n");
    auto quiet = f.build(dockerfile);
    CHECK(count_lines_with(quiet.err, "not cached") == 0);
    f.write("src/b.txt", "two\n");
    auto r = f.build(dockerfile, "t", {"--explain"});
    CHECK(why_not_cached(r.err, "COPY src/") == "not cached: file src/b.txt: content changed");
  }
  SECTION("a damaged record reads as no earlier build") {
    for (const auto& e : std::filesystem::directory_iterator(f.hoist().root() + "/hoist-cache"))
      if (e.path().filename().string().ends_with(".inputs.json")) hoist_test::write_file(e.path().string(), "{\"parent\": 7");
    f.write("src/b.txt", "changed\n");
    auto r = f.build(dockerfile, "t", {"--explain"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(why_not_cached(r.err, "COPY src/") == "not cached: no readable record of the earlier build of this step");
  }
}

TEST_CASE("explain: a changed build-arg is named, never its value", "[builder][explain]") {
  BuildFixture f;
  const char* dockerfile =
      "FROM busybox:latest\n"
      "ARG X\n"
      "ARG OTHER=same\n"
      "RUN echo \"$X $OTHER\" > /x\n";
  auto first = f.build(dockerfile, "t", {"--build-arg", "X=secret-one", "--explain"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  auto second = f.build(dockerfile, "t", {"--build-arg", "X=secret-two", "--explain"});
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(why_not_cached(second.err, "ARG X").empty());  // cached: ARG's key is its text
  CHECK(why_not_cached(second.err, "RUN echo") == "not cached: build-arg X changed");
  CHECK(count_lines_with(second.err, "not cached") == 1);
  CHECK_THAT(second.err, !Catch::Contains("secret-one"));
  auto third = f.build(dockerfile, "t", {"--build-arg", "X=secret-two", "--no-cache", "--explain"});
  CHECK(why_not_cached(third.err, "RUN echo") == "not cached: --no-cache");
}

TEST_CASE("explain: a new base image is named on the FROM line", "[builder][explain]") {
  BuildFixture f;
  const char* dockerfile = "FROM busybox:latest\nRUN echo hi > /hi\n";
  auto first = f.build(dockerfile, "t", {"--explain"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  // Another import of the same tree is another image (its created time differs).
  auto reimported = f.hoist().run({"import", "--change", "CMD [\"sh\"]", hoist_test::busybox_rootfs_tar(), "busybox:latest"},
                                  "", {"SOURCE_DATE_EPOCH=12345"});
  INFO(reimported.err);
  REQUIRE(reimported.exit_code == 0);
  auto r = f.build(dockerfile, "t", {"--explain"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string new_id = reimported.out.substr(0, reimported.out.find('\n'));
  CHECK_THAT(why_not_cached(r.err, "FROM busybox"),
             Catch::StartsWith("not cached: base image changed: sha256:") && Catch::EndsWith(" -> " + new_id));
  CHECK_THAT(why_not_cached(r.err, "RUN echo"), Catch::StartsWith("not cached: an earlier step changed"));
}
