// hoist build - : the context as a tar on stdin (plain or compressed), or the Dockerfile
// alone, as docker build - takes them; the tar goes through the one layer applier.

#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/builder/build_fixture.h"

namespace fs = std::filesystem;

namespace {

// A tar of `dir`'s contents, compressed with `flag` ("" for none, "z", "j", "J").
std::string tar_of(const std::string& dir, const std::string& flag) {
  auto r = hoist_test::run_program({"tar", "-c" + flag + "f", "-", "-C", dir, "."});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

}  // namespace

TEST_CASE("hoist build -: a context tar on stdin, its Dockerfile and .dockerignore", "[builder][stdin-context]") {
  build_test::BuildFixture f;
  hoist_test::TempDir ctx("hoist-stdin-ctx");
  auto write = [&](const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(ctx.path() + "/" + rel).parent_path());
    std::ofstream(ctx.path() + "/" + rel) << text;
  };
  write("Dockerfile", "FROM busybox:latest\nCOPY . /ctx/\nRUN cat /ctx/a.txt > /copied\n");
  write("sub/Other.Dockerfile", "FROM busybox:latest\nCOPY a.txt /other\n");
  write("a.txt", "from the tar\n");
  write("ignored.txt", "ignored\n");
  write(".dockerignore", "ignored.txt\n");
  const std::string flag = GENERATE("", "z", "J");
  CAPTURE(flag);
  const std::string dest = f.out_dir() + "/stdin-" + (flag.empty() ? "plain" : flag);
  auto built = f.hoist().run({"build", "--progress", "plain", "-t", "fromtar", "-o", "type=local,dest=" + dest, "-"},
                             tar_of(ctx.path(), flag));
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(hoist_test::read_file(dest + "/copied") == "from the tar\n");
  CHECK_FALSE(fs::exists(dest + "/ctx/ignored.txt"));
  auto other = f.hoist().run({"build", "--progress", "plain", "-f", "sub/Other.Dockerfile", "-o",
                              "type=local,dest=" + dest + "-other", "-"},
                             tar_of(ctx.path(), flag));
  INFO(other.err);
  REQUIRE(other.exit_code == 0);
  CHECK(hoist_test::read_file(dest + "-other/other") == "from the tar\n");
}

TEST_CASE("hoist build -: a Dockerfile on stdin has no context", "[builder][stdin-context]") {
  build_test::BuildFixture f;
  auto built = f.hoist().run({"build", "--progress", "plain", "-t", "nocontext", "-"},
                             "FROM busybox:latest\nRUN echo ok > /ok\n");
  INFO(built.err);
  CHECK(built.exit_code == 0);
  auto copy = f.hoist().run({"build", "--progress", "plain", "-"}, "FROM busybox:latest\nCOPY x /x\n");
  CHECK(copy.exit_code == 1);
  CHECK_THAT(copy.err, Catch::Contains("no build context"));
  auto both = f.hoist().run({"build", "-f", "-", "-"}, "FROM busybox:latest\n");
  CHECK(both.exit_code == 2);
  CHECK_THAT(both.err, Catch::Contains("cannot both come from stdin"));
}

TEST_CASE("hoist build -: a hostile context tar is refused, and its Dockerfile read inside it",
          "[builder][stdin-context]") {
  build_test::BuildFixture f;
  hoist_test::TempDir ctx("hoist-stdin-hostile");
  // A Dockerfile that is a symlink to the host's /etc/hostname reads CONTEXT/etc/hostname.
  fs::create_symlink("/etc/hostname", ctx.path() + "/Dockerfile");
  auto linked = f.hoist().run({"build", "-"}, tar_of(ctx.path(), "z"));
  CHECK(linked.exit_code == 1);
  CHECK_THAT(linked.err, Catch::Contains("the Dockerfile \"Dockerfile\" of the context tar"));
  // An entry climbing out of the root.
  auto made = hoist_test::run_program(
      {"sh", "-c", "cd \"$1\" && mkdir -p a && echo x > a/f && tar --transform 's,^a/f,../escape,' -cf - a/f", "sh",
       ctx.path()});
  REQUIRE(made.exit_code == 0);
  auto escape = f.hoist().run({"build", "-"}, made.out);
  CHECK(escape.exit_code == 1);
  CHECK_THAT(escape.err, Catch::Contains("../escape"));
}

TEST_CASE("--build-context NAME=DIR|docker-image://REF for FROM, COPY --from and RUN --mount=from",
          "[builder][named-context]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  hoist_test::TempDir libs("hoist-named-ctx");
  fs::create_directories(libs.path() + "/lib");
  std::ofstream(libs.path() + "/lib/x.txt") << "from the named context\n";
  std::ofstream(libs.path() + "/lib/skip.txt") << "ignored there\n";
  std::ofstream(libs.path() + "/.dockerignore") << "lib/skip.txt\n";
  const std::string dockerfile =
      "FROM base\n"
      "COPY --from=libs lib/ /x/\n"
      "RUN --mount=from=libs,target=/l cat /l/lib/x.txt > /y && test ! -e /l/lib/skip.txt\n"
      "COPY --from=base /bin/busybox /bb\n";
  auto rootfs = f.rootfs(dockerfile, {"--build-context", "libs=" + libs.path(), "--build-context",
                                      "base=docker-image://busybox:latest"});
  CHECK(hoist_test::read_file(rootfs + "/x/x.txt") == "from the named context\n");
  CHECK_FALSE(fs::exists(rootfs + "/x/skip.txt"));
  CHECK(hoist_test::read_file(rootfs + "/y") == "from the named context\n");
  CHECK(fs::exists(rootfs + "/bb"));
  // The named directory's content is in the key: a change reruns the steps reading it.
  std::ofstream(libs.path() + "/lib/x.txt") << "changed\n";
  auto again = f.build(dockerfile, "t", {"--build-context", "libs=" + libs.path(), "--build-context",
                                         "base=docker-image://busybox:latest"});
  REQUIRE(again.exit_code == 0);
  CHECK(build_test::count_lines_with(again.err, "CACHED") == 0);

  auto [args, message] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"--build-context", "stage=/tmp"}, "the Dockerfile has a stage of that name"},
      {{"--build-context", "libs=git://example.com/x"}, "only a directory or docker-image://REF"},
      {{"--build-context", "base=/tmp"}, "cannot be a base in hoist"},
      {{"--build-context", "libs=/nonexistent/dir"}, "/nonexistent/dir"},
  }));
  CAPTURE(args);
  auto refused = f.build("FROM base AS stage\nCOPY --from=libs a /a\n", "t", args);
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains(message));
}
