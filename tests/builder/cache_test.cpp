// The build cache: keys follow content, not mtime; a hit reuses the layer and the history
// time, so a rebuild with nothing changed gives the same image id.

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <filesystem>
#include <set>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using build_test::step_outcome;
using hoist_test::read_file;

namespace {

const char* kCacheDockerfile =
    "FROM busybox:latest\n"
    "ENV A=1\n"
    "COPY a.txt /a.txt\n"
    "RUN cat /a.txt > /b.txt\n"
    "COPY c.txt /c.txt\n";

std::string build_id(const BuildFixture& f, std::string* err, std::vector<std::string> extra = {}) {
  std::string iid = f.out_dir() + "/iid";
  extra.insert(extra.end(), {"--iidfile", iid});
  auto r = f.build(kCacheDockerfile, "t", extra);
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

TEST_CASE("cache: COPY --from keys on the bytes it copies, not on the stage they come from", "[builder][cache]") {
  BuildFixture f;
  const char* dockerfile =
      "FROM busybox:latest AS a\n"
      "COPY a.txt /a.txt\n"
      "FROM busybox:latest AS b\n"
      "COPY b.txt /b.txt\n"
      "RUN wc -l < /b.txt > /count\n"
      "FROM busybox:latest\n"
      "COPY --from=b /count /count\n"
      "COPY --from=a /a.txt /a.txt\n";
  f.write("a.txt", "a\n");
  f.write("b.txt", "one\ntwo\n");
  auto first = f.build(dockerfile);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);

  SECTION("stage b reruns, the bytes it gives are the same: both COPY --from stay cached") {
    f.write("b.txt", "uno\ndos\n");
    auto r = f.build(dockerfile);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(step_outcome(r.err, "COPY a.txt") == "CACHED");
    CHECK(step_outcome(r.err, "COPY b.txt") == "DONE");
    CHECK(step_outcome(r.err, "RUN wc") == "DONE");
    CHECK(step_outcome(r.err, "COPY --from=b") == "CACHED");
    CHECK(step_outcome(r.err, "COPY --from=a") == "CACHED");
  }
  SECTION("what b gives changes: COPY --from=b reruns, and the step after it") {
    f.write("b.txt", "one\ntwo\nthree\n");
    auto r = f.build(dockerfile);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(step_outcome(r.err, "COPY a.txt") == "CACHED");
    CHECK(step_outcome(r.err, "RUN wc") == "DONE");
    CHECK(step_outcome(r.err, "COPY --from=b") == "DONE");
    CHECK(step_outcome(r.err, "COPY --from=a") == "DONE");
  }
  SECTION("with COPY --from=a first, a change in b leaves it cached") {
    const std::string swapped = std::string(dockerfile).substr(0, std::string(dockerfile).find("COPY --from=b")) +
                                "COPY --from=a /a.txt /a.txt\nCOPY --from=b /count /count\n";
    REQUIRE(f.build(swapped).exit_code == 0);
    f.write("b.txt", "one\ntwo\nthree\n");
    auto r = f.build(swapped);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(step_outcome(r.err, "COPY a.txt") == "CACHED");
    CHECK(step_outcome(r.err, "COPY b.txt") == "DONE");
    CHECK(step_outcome(r.err, "RUN wc") == "DONE");
    CHECK(step_outcome(r.err, "COPY --from=a") == "CACHED");
    CHECK(step_outcome(r.err, "COPY --from=b") == "DONE");
  }
}

TEST_CASE("cache: RUN --mount=type=bind,from=STAGE keys on the content it shows", "[builder][cache]") {
  BuildFixture f;
  const char* dockerfile =
      "FROM busybox:latest AS b\n"
      "COPY b.txt /b.txt\n"
      "RUN wc -l < /b.txt > /count\n"
      "FROM busybox:latest\n"
      "RUN --mount=type=bind,from=b,source=/count,target=/c cp /c /got\n";
  f.write("b.txt", "one\ntwo\n");
  REQUIRE(f.build(dockerfile).exit_code == 0);
  f.write("b.txt", "uno\ndos\n");
  auto same = f.build(dockerfile);
  INFO(same.err);
  REQUIRE(same.exit_code == 0);
  CHECK(step_outcome(same.err, "RUN wc") == "DONE");
  CHECK(step_outcome(same.err, "RUN --mount") == "CACHED");
  f.write("b.txt", "one\n");
  auto changed = f.build(dockerfile);
  CHECK(step_outcome(changed.err, "RUN --mount") == "DONE");
}

TEST_CASE("cache: keys name no absolute path, store, mtime or owner", "[builder][cache]") {
  // Two runners: each its own store and its own checkout of the same context, at other
  // paths, with other mtimes and another owner. They must compute the same keys.
  const char* dockerfile =
      "FROM busybox:latest AS s\n"
      "COPY . /src/\n"
      "FROM busybox:latest\n"
      "WORKDIR /app\n"
      "COPY --from=s /src/a.txt ./\n"
      "RUN --mount=type=bind,target=/ctx cat /ctx/a.txt > /copied\n";
  auto keys = [&](BuildFixture& f, uid_t owner, time_t mtime) {
    f.write("a.txt", "a\n");
    f.write("sub/b.txt", "b\n");
    f.write("Dockerfile", dockerfile);
    for (const char* rel : {"a.txt", "sub/b.txt", "sub", "Dockerfile"}) {
      const std::string path = f.context() + "/" + rel;
      REQUIRE(::lchown(path.c_str(), owner, owner) == 0);
      struct utimbuf times = {mtime, mtime};
      REQUIRE(::utime(path.c_str(), &times) == 0);
    }
    auto r = f.build(dockerfile);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(f.hoist().root() + "/hoist-cache"))
      if (e.path().filename().string().size() == 64 + 5) names.insert(e.path().filename().string());  // <key>.json
    return names;
  };
  BuildFixture one, two;
  // The same base image in both stores (an import's time differs): saved and loaded.
  const std::string saved = one.out_dir() + "/busybox.tar";
  REQUIRE(one.hoist().run({"save", "-o", saved, "busybox:latest"}).exit_code == 0);
  REQUIRE(two.hoist().run({"load", "-i", saved}).exit_code == 0);
  REQUIRE(one.context() != two.context());
  REQUIRE(one.hoist().root() != two.hoist().root());
  auto first = keys(one, 0, 1000);
  auto second = keys(two, 1234, 2000000);
  CHECK(first.size() == 4);  // COPY ., WORKDIR, COPY --from, RUN
  CHECK(first == second);
}
