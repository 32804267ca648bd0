// hoist build --jobs: independent stages build at once (builder/stage_scheduler.h), the
// image is the one a sequential build gives, and a failing stage stops the others.

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "tests/builder/build_fixture.h"

namespace {

using build_test::BuildFixture;

// "#N [stage i/n] INSTRUCTION" lines of `--progress plain` output: which number each
// step got.
std::set<std::string> step_titles(const std::string& progress) {
  std::set<std::string> titles;
  std::istringstream in(progress);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with('#') && line.find(" [") == line.find(' ')) titles.insert(line);
  return titles;
}

std::string read_iid(const std::string& path) {
  std::ifstream in(path);
  std::string id;
  std::getline(in, id);
  return id;
}

// Lines of this process's mountinfo that name `path` (the sandbox mounts in a namespace of
// its own, so none should ever show here).
std::string mounts_under(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string found;
  for (std::string line; std::getline(in, line);)
    if (line.find(path) != std::string::npos) found += line + "\n";
  return found;
}

std::string entries_of(const std::string& dir) {
  std::string names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) names += entry.path().filename().string() + " ";
  return names;
}

}  // namespace

TEST_CASE("parallel stages: --jobs 4 gives the image and the step numbers of --jobs 1", "[builder][parallel]") {
  BuildFixture f;
  f.write("a.txt", "from the context\n");
  const std::string dockerfile =
      "FROM busybox AS left\n"
      "RUN echo left > /left && sleep 1\n"
      "COPY a.txt /left.txt\n"
      "FROM busybox AS right\n"
      "ARG WHO=right\n"
      "RUN echo $WHO > /right\n"
      "WORKDIR /work\n"
      "FROM busybox\n"
      "COPY --from=left /left /left.txt /\n"
      "COPY --from=right /right /\n"
      "CMD [\"cat\", \"/left\", \"/right\"]\n";
  const std::vector<std::string> env = {"SOURCE_DATE_EPOCH=1700000000"};
  auto sequential = f.build(dockerfile, "seq", {"--no-cache", "--jobs", "1", "--iidfile", f.out_dir() + "/seq"}, env);
  INFO(sequential.err);
  REQUIRE(sequential.exit_code == 0);
  auto parallel = f.build(dockerfile, "par", {"--no-cache", "--jobs", "4", "--iidfile", f.out_dir() + "/par"}, env);
  INFO(parallel.err);
  REQUIRE(parallel.exit_code == 0);
  CHECK(read_iid(f.out_dir() + "/par") == read_iid(f.out_dir() + "/seq"));
  CHECK(!read_iid(f.out_dir() + "/seq").empty());
  CHECK(step_titles(parallel.err) == step_titles(sequential.err));
  CHECK(step_titles(parallel.err).size() == 11);
  auto manifest = [&](const std::string& tag) {
    auto r = f.hoist().run({"inspect", tag});
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_array()) j = j.at(0);
    return j.at("Descriptor").at("digest").get<std::string>();
  };
  CHECK(manifest("par") == manifest("seq"));
}

TEST_CASE("parallel stages: two stages run at once (one waits for what the other writes)", "[builder][parallel]") {
  BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  // `waits` can only succeed while `writes` runs beside it: both see one cache mount, and
  // `waits` looks for the marker `writes` leaves there (a fresh name per build).
  const std::string dockerfile =
      "FROM busybox AS waits\n"
      "ARG MARK\n"
      "ARG SECONDS=30\n"
      "RUN --mount=type=cache,id=meet,sharing=shared,target=/meet "
      "i=0; while [ ! -f /meet/$MARK ] && [ $i -lt $((SECONDS * 10)) ]; do sleep 0.1; i=$((i+1)); done; "
      "test -f /meet/$MARK && echo met > /met\n"
      "FROM busybox AS writes\n"
      "ARG MARK\n"
      "RUN --mount=type=cache,id=meet,sharing=shared,target=/meet touch /meet/$MARK /wrote\n"
      "FROM busybox\n"
      "COPY --from=waits /met /met\n"
      "COPY --from=writes /wrote /wrote\n";
  auto together = f.build(dockerfile, "t", {"--no-cache", "--jobs", "2", "--build-arg", "MARK=first"});
  INFO(together.err);
  CHECK(together.exit_code == 0);
  // One at a time, `waits` (built first) gives up: the build above ran them at once.
  auto apart = f.build(dockerfile, "t",
                       {"--no-cache", "--jobs", "1", "--build-arg", "MARK=second", "--build-arg", "SECONDS=2"});
  INFO(apart.err);
  CHECK(apart.exit_code != 0);
  CHECK(build_test::step_outcome(apart.err, "touch /meet/") == "");
}

TEST_CASE("parallel stages: a failing stage stops a running RUN of another, leaving nothing behind",
          "[builder][parallel]") {
  BuildFixture f;
  const std::string dockerfile =
      "FROM busybox AS slow\n"
      "RUN touch /slept && sleep 120\n"
      "FROM busybox AS broken\n"
      "RUN sleep 1 && exit 3\n"
      "FROM busybox\n"
      "COPY --from=slow /slept /a\n"
      "COPY --from=broken /bin /b\n";
  auto r = f.build(dockerfile, "t", {"--no-cache", "--jobs", "2"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  // The error is the failing step's, not the cancelled one's.
  CHECK_THAT(r.err, Catch::Contains("hoist: error: Dockerfile:4: RUN sleep 1 && exit 3: ") &&
                        Catch::Contains("exit code: 3"));
  CHECK(build_test::step_outcome(r.err, "exit 3") == "ERROR");
  // The sleep was stopped: a stage that ran on would have finished DONE before the build
  // returned (the build waits for every running stage).
  CHECK(build_test::step_outcome(r.err, "sleep 120") != "DONE");
  CHECK(build_test::step_outcome(r.err, "COPY --from=slow") == "");
  CHECK(mounts_under(f.hoist().root()) == "");
  CHECK(entries_of(f.hoist().root() + "/hoist-build") == "");
}

TEST_CASE("parallel stages: a --from only the stage's ARG names waits for that stage", "[builder][parallel]") {
  BuildFixture f;
  // The stage graph expands --from with the global ARGs only, so it sees no edge from
  // `copies` to `makes`: the stage waits for `makes` when it gets to the COPY.
  const std::string dockerfile =
      "FROM busybox AS makes\n"
      "RUN sleep 1 && echo made > /made\n"
      "FROM busybox AS copies\n"
      "ARG SOURCE=makes\n"
      "COPY --from=${SOURCE} /made /copied\n"
      "FROM busybox\n"
      "COPY --from=makes /made /made\n"
      "COPY --from=copies /copied /copied\n";
  auto r = f.build(dockerfile, "t", {"--no-cache", "--jobs", "3"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(build_test::step_outcome(r.err, "COPY --from=${SOURCE}") == "DONE");
}

TEST_CASE("parallel stages: --jobs wants a number of stages, 1 or more", "[builder][parallel]") {
  BuildFixture f;
  for (const std::string bad : {"0", "-2", "two", "3x", ""}) {
    auto r = f.build("FROM busybox\n", "t", {"--jobs", bad});
    INFO(bad << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--jobs"));
  }
}
