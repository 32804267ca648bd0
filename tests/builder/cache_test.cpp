// The build cache: keys follow content, not mtime; a hit reuses the layer and the history
// time, so a rebuild with nothing changed gives the same image id.

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using hoist_test::read_file;

namespace {

const char* kDockerfile =
    "FROM busybox:latest\n"
    "ENV A=1\n"
    "COPY a.txt /a.txt\n"
    "RUN cat /a.txt > /b.txt\n"
    "COPY c.txt /c.txt\n";

std::string build_id(const BuildFixture& f, std::string* err, std::vector<std::string> extra = {}) {
  std::string iid = f.out_dir() + "/iid";
  extra.insert(extra.end(), {"--iidfile", iid});
  auto r = f.build(kDockerfile, "t", extra);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  *err = r.err;
  return read_file(iid);
}

}  // namespace

TEST_CASE("cache: a second build is all CACHED and gives the same image id", "[builder][cache]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  f.write("c.txt", "c\n");
  std::string first_err, second_err;
  std::string first = build_id(f, &first_err);
  CHECK(count_lines_with(first_err, "CACHED") == 0);
  std::string second = build_id(f, &second_err);
  CHECK(count_lines_with(second_err, "CACHED") == 4);
  CHECK(count_lines_with(second_err, " DONE ") == 1);  // only FROM
  CHECK(first == second);

  SECTION("touching a file's mtime keeps the cache") {
    struct utimbuf times = {1000, 1000};
    REQUIRE(::utime((f.context() + "/a.txt").c_str(), &times) == 0);
    std::string err;
    CHECK(build_id(f, &err) == first);
    CHECK(count_lines_with(err, "CACHED") == 4);
  }
  SECTION("changing one byte rebuilds from that step on") {
    f.write("a.txt", "b\n");
    std::string err;
    std::string changed = build_id(f, &err);
    CHECK(changed != first);
    CHECK_THAT(err, Catch::Contains("#2 CACHED"));      // ENV
    CHECK_THAT(err, !Catch::Contains("#3 CACHED"));     // COPY a.txt
    CHECK_THAT(err, !Catch::Contains("#4 CACHED"));     // RUN after it
    CHECK_THAT(err, !Catch::Contains("#5 CACHED"));     // COPY c.txt, unchanged but after
  }
  SECTION("another owner of a context file keeps the cache (COPY writes 0:0), as on another runner") {
    REQUIRE(::chown((f.context() + "/a.txt").c_str(), 1234, 1234) == 0);
    std::string err;
    CHECK(build_id(f, &err) == first);
    CHECK(count_lines_with(err, "CACHED") == 4);
  }
  SECTION("changing a file's mode rebuilds") {
    REQUIRE(::chmod((f.context() + "/c.txt").c_str(), 0600) == 0);
    std::string err;
    CHECK(build_id(f, &err) != first);
    CHECK_THAT(err, !Catch::Contains("#5 CACHED"));
  }
  SECTION("--no-cache runs every step") {
    std::string err;
    build_id(f, &err, {"--no-cache"});
    CHECK(count_lines_with(err, "CACHED") == 0);
  }
}

TEST_CASE("cache: a build arg used by RUN is part of its key", "[builder][cache]") {
  BuildFixture f;
  const char* dockerfile = "FROM busybox:latest\nARG V=1\nRUN echo $V > /v\n";
  REQUIRE(f.build(dockerfile).exit_code == 0);
  auto same = f.build(dockerfile);
  CHECK_THAT(same.err, Catch::Contains("#3 CACHED"));
  auto other = f.build(dockerfile, "t", {"--build-arg", "V=2"});
  CHECK_THAT(other.err, !Catch::Contains("#3 CACHED"));
}
