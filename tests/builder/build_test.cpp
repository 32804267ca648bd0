// `hoist build` end to end through the real binary: examples/hello, RUN and its layers,
// failures, multi-stage builds, outputs, reproducibility.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using hoist_test::read_file;

namespace {

bool have_program(const std::string& name) {
  return hoist_test::run_program({"sh", "-c", "command -v " + name}).exit_code == 0;
}

}  // namespace

TEST_CASE("build: examples/hello builds with its script and command", "[builder][build]") {
  BuildFixture f;
  auto r = f.hoist().run({"build", "--progress", "plain", "-t", "hello",
                          hoist_test::source_root() + "/examples/hello"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto config = f.config("hello");
  CHECK(config["config"]["Cmd"] == nlohmann::json({"/bin/sh", "/app/hello.sh"}));
  CHECK(config["config"]["WorkingDir"] == "/app");
  CHECK(config["rootfs"]["diff_ids"].size() == 3);  // busybox, WORKDIR /app, COPY
  std::string out = f.out_dir() + "/hello";
  auto local = f.hoist().run({"build", "--progress", "quiet", "-o", "type=local,dest=" + out,
                              hoist_test::source_root() + "/examples/hello"});
  REQUIRE(local.exit_code == 0);
  CHECK(read_file(out + "/app/hello.sh") == read_file(hoist_test::source_root() + "/examples/hello/hello.sh"));
}

TEST_CASE("build: RUN sees ENV and ARG, streams output with the step number", "[builder][build][run]") {
  BuildFixture f;
  auto r = f.build(
      "FROM busybox:latest\n"
      "ARG WHO=world\n"
      "ENV GREETING=hello\n"
      "RUN echo \"$GREETING $WHO\" > /greeting && echo step-output\n",
      "t", {"--build-arg", "WHO=tests"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("#4 step-output"));
  auto config = f.config();
  // ARG values reach RUN but are not stored in the config.
  for (const auto& e : config["config"]["Env"]) CHECK_FALSE(e.get<std::string>().starts_with("WHO="));
  std::string root = f.rootfs("FROM busybox:latest\nARG WHO=world\nENV GREETING=hello\n"
                              "RUN echo \"$GREETING $WHO\" > /greeting && echo step-output\n",
                              {"--build-arg", "WHO=tests"});
  CHECK(read_file(root + "/greeting") == "hello tests\n");
}

TEST_CASE("build: RUN's HOME comes from the user's passwd entry unless ENV sets one",
          "[builder][build][run]") {
  // What `docker build` (Docker 20.10.24, runc 1.1.5) prints for the same Dockerfile:
  // root /root, daemon /usr/sbin (its passwd home), 1234 / (no entry), ENV HOME=/envhome,
  // and an empty ENV HOME= filled in as /root. HOME is never written into the config.
  BuildFixture f;
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN echo \"root $HOME\" >> /homes\n"
      "USER daemon\n"
      "RUN echo \"daemon $HOME\" > /tmp/daemon\n"
      "USER 1234\n"
      "RUN echo \"1234 $HOME\" > /tmp/1234\n"
      "USER root\n"
      "ENV HOME=/envhome\n"
      "RUN echo \"env $HOME\" >> /homes\n"
      "ENV HOME=\n"
      "RUN echo \"empty $HOME\" >> /homes && cat /tmp/daemon /tmp/1234 >> /homes\n";
  std::string root = f.rootfs(dockerfile);
  CHECK(hoist_test::read_file(root + "/homes") == "root /root\nenv /envhome\nempty /root\ndaemon /usr/sbin\n1234 /\n");
  auto r = f.build(dockerfile);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(f.config()["config"]["Env"] ==
        nlohmann::json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME="}));
}

TEST_CASE("build: RUN with heredocs runs what BuildKit runs", "[builder][build][run][heredoc]") {
  // A command that is one heredoc word runs the body as the script; any other line goes to
  // the shell with the bodies after it (BuildKit's dispatchRun).
  BuildFixture f;
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN <<EOF\necho script > /script\nEOF\n"
      "RUN <<  EOF\necho blanks > /blanks\nEOF\n"
      "RUN cat <<EOF > /cat\nfrom the body\nEOF\n"
      "RUN <<EOF sh -x 2> /trace\necho traced\nEOF\n"
      "RUN <<-EOF\n\techo chomped > /chomped\n\tEOF\n"
      "RUN cat <<A > /two && cat <<B >> /two\na\nA\nb\nB\n";
  std::string root = f.rootfs(dockerfile);
  CHECK(hoist_test::read_file(root + "/script") == "script\n");
  CHECK(hoist_test::read_file(root + "/blanks") == "blanks\n");
  CHECK(hoist_test::read_file(root + "/cat") == "from the body\n");
  CHECK(hoist_test::read_file(root + "/trace") == "+ echo traced\n");
  CHECK(hoist_test::read_file(root + "/chomped") == "chomped\n");
  CHECK(hoist_test::read_file(root + "/two") == "a\nb\n");

  // The body is part of the step: changing it runs the step again.
  auto first = f.build("FROM busybox:latest\nRUN cat <<EOF > /f\none\nEOF\n");
  REQUIRE(first.exit_code == 0);
  auto second = f.build("FROM busybox:latest\nRUN cat <<EOF > /f\ntwo\nEOF\n");
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(count_lines_with(second.err, "CACHED") == 0);

  auto shebang = f.build("FROM busybox:latest\nRUN <<EOF\n#!/bin/sh\necho x\nEOF\n");
  CHECK(shebang.exit_code == 1);
  CHECK_THAT(shebang.err, Catch::Contains("#!") && Catch::Contains("not supported yet"));
}

TEST_CASE("build: a failing RUN names the step and exit code, leaves no mounts and no image",
          "[builder][build][run]") {
  BuildFixture f;
  auto r = f.build("FROM busybox:latest\nRUN echo partial > /x\nRUN echo before-fail; exit 3\n", "bad");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("Dockerfile:3"));
  CHECK_THAT(r.err, Catch::Contains("exit code: 3"));
  CHECK_THAT(r.err, Catch::Contains("before-fail"));
  CHECK_THAT(read_file("/proc/self/mountinfo"), !Catch::Contains(f.hoist().root()));
  // No image under the tag. (Not a search of `hoist images` for "bad": an image id is hex and
  // may hold those three letters, which made this check fail by chance.)
  auto tagged = f.hoist().run({"inspect", "bad"});
  CHECK(tagged.exit_code == 1);
  CHECK_THAT(tagged.err, Catch::Contains("bad"));
  // Scratch dirs of the failed step are gone.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(f.hoist().root() + "/hoist-build", ec))
    FAIL("left behind: " << entry.path());
}

TEST_CASE("build: whiteouts of a RUN apply in a fresh unpack and in umoci", "[builder][build][run]") {
  BuildFixture f;
  std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN mkdir -p /d/old && echo 1 > /d/old/f && echo keep > /d/keep\n"
      "RUN rm /bin/vi && rm -rf /d && mkdir /d && echo 2 > /d/new\n";
  auto built = f.build(dockerfile);
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  std::string root = f.rootfs(dockerfile);
  struct stat st;
  CHECK(::lstat((root + "/bin/vi").c_str(), &st) != 0);
  CHECK(::lstat((root + "/bin/sh").c_str(), &st) == 0);
  CHECK(::lstat((root + "/d/old").c_str(), &st) != 0);
  CHECK(::lstat((root + "/d/keep").c_str(), &st) != 0);
  CHECK(read_file(root + "/d/new") == "2\n");
  if (!have_program("umoci")) HOIST_SKIP("the umoci part: umoci missing; run .ci/deps.sh --test");
  std::string bundle = f.out_dir() + "/bundle";
  auto unpacked = hoist_test::run_program(
      {"umoci", "unpack", "--image", f.hoist().root() + ":docker.io/library/t:latest", bundle});
  INFO(unpacked.err);
  REQUIRE(unpacked.exit_code == 0);
  CHECK(::lstat((bundle + "/rootfs/bin/vi").c_str(), &st) != 0);
  CHECK(::lstat((bundle + "/rootfs/d/old").c_str(), &st) != 0);
  CHECK(read_file(bundle + "/rootfs/d/new") == "2\n");
}

TEST_CASE("build: multi-stage with --target builds only what the target needs", "[builder][build][stages]") {
  BuildFixture f;
  std::string dockerfile =
      "FROM busybox:latest AS base\n"
      "RUN echo base > /base.txt\n"
      "FROM busybox:latest AS unused\n"
      "RUN echo unused-stage-ran\n"
      "FROM base AS build\n"
      "RUN echo built > /artifact\n"
      "FROM busybox:latest\n"
      "COPY --from=build /artifact /base.txt /out/\n";
  auto r = f.build(dockerfile, "t", {"--target", "build"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, !Catch::Contains("unused-stage-ran"));
  CHECK_THAT(r.err, !Catch::Contains("COPY --from"));
  auto full = f.build(dockerfile, "final");
  INFO(full.err);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.err, !Catch::Contains("unused-stage-ran"));
  std::string root = f.rootfs(dockerfile);
  CHECK(read_file(root + "/out/artifact") == "built\n");
  CHECK(read_file(root + "/out/base.txt") == "base\n");
  auto unknown = f.build(dockerfile, "t", {"--target", "nope"});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("nope"));
}

TEST_CASE("build: SOURCE_DATE_EPOCH gives the same image digest in two fresh stores",
          "[builder][build][reproducible]") {
  std::string ids[2];
  for (auto& id : ids) {
    BuildFixture f;
    // The base must be the same too: re-import it with the same clamped time.
    auto base = f.hoist().run({"import", "--change", "CMD [\"sh\"]", hoist_test::busybox_rootfs_tar(),
                               "busybox:latest"},
                              "", {"SOURCE_DATE_EPOCH=1600000000"});
    REQUIRE(base.exit_code == 0);
    f.write("a.txt", "a\n");
    auto r = f.build("FROM busybox:latest\nCOPY a.txt /\nRUN echo x > /x\nENV A=1\n", "t",
                     {"--iidfile", f.out_dir() + "/iid"}, {"SOURCE_DATE_EPOCH=1700000000"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    id = read_file(f.out_dir() + "/iid");
    CHECK(f.config()["created"] == "2023-11-14T22:13:20Z");
  }
  CHECK(ids[0].starts_with("sha256:"));
  CHECK(ids[0] == ids[1]);
}

TEST_CASE("build: --output type=oci and type=docker archives", "[builder][build][outputs]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  std::string oci_dir = f.out_dir() + "/layout";
  std::string oci_tar = f.out_dir() + "/layout.tar";
  std::string docker_tar = f.out_dir() + "/docker.tar";
  auto r = f.build("FROM busybox:latest\nCOPY a.txt /\n", "out:v1",
                   {"-o", "type=oci,dest=" + oci_dir, "-o", "type=oci,dest=" + oci_tar, "-o",
                    "type=docker,dest=" + docker_tar});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::filesystem::exists(oci_dir + "/index.json"));
  auto listing = hoist_test::run_program({"tar", "-tf", docker_tar});
  CHECK_THAT(listing.out, Catch::Contains("manifest.json"));
  CHECK_THAT(listing.out, Catch::Contains("/layer.tar"));
  auto manifest = hoist_test::run_program({"tar", "-xOf", docker_tar, "manifest.json"});
  CHECK_THAT(manifest.out, Catch::Contains("out:v1"));
  if (have_program("skopeo")) {
    auto inspected = hoist_test::run_program({"skopeo", "inspect", "oci:" + oci_dir + ":docker.io/library/out:v1"});
    INFO(inspected.err);
    CHECK(inspected.exit_code == 0);
  } else {
    hoist_test::record_skip("the skopeo part: skopeo missing; run .ci/deps.sh --test");
  }
  // Only outputs asked for: no -o type=image means the store does not get the tag.
  // (Asked by name: a search of `hoist images` for "out" would also find "About a minute ago".)
  auto tagged = f.hoist().run({"inspect", "out:v1"});
  CHECK(tagged.exit_code == 1);
  CHECK_THAT(tagged.err, Catch::Contains("out:v1"));

  // One exporter: with the image also in the store, `hoist save` writes the same bytes as
  // -o type=docker, and `hoist save --format oci` the same as -o type=oci,dest=X.tar.
  auto again = f.build("FROM busybox:latest\nCOPY a.txt /\n", "out:v1",
                       {"-o", "type=image", "-o", "type=oci,dest=" + oci_tar, "-o",
                        "type=docker,dest=" + docker_tar});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  const std::string saved = f.out_dir() + "/saved.tar", saved_oci = f.out_dir() + "/saved-oci.tar";
  REQUIRE(f.hoist().run({"save", "-o", saved, "out:v1"}).exit_code == 0);
  REQUIRE(f.hoist().run({"save", "--format", "oci", "-o", saved_oci, "out:v1"}).exit_code == 0);
  CHECK(hoist_test::read_file(saved) == hoist_test::read_file(docker_tar));
  CHECK(hoist_test::read_file(saved_oci) == hoist_test::read_file(oci_tar));

  // dest=- is stdout, as with BuildKit (`| docker load`): the archive alone, a RUN's output
  // included in the progress on stderr, not in it.
  for (const std::string type : {"docker", "oci"}) {
    CAPTURE(type);
    auto piped = f.build("FROM busybox:latest\nCOPY a.txt /\nRUN echo said-by-run\n", "out:v1",
                         {"--progress", "plain", "-o", "type=" + type + ",dest=-"});
    INFO(piped.err);
    REQUIRE(piped.exit_code == 0);
    CHECK_THAT(piped.err, Catch::Contains("said-by-run") && Catch::Contains("exported the image to stdout"));
    const std::string piped_tar = f.out_dir() + "/piped-" + type + ".tar";
    hoist_test::write_file(piped_tar, piped.out);
    auto entries = hoist_test::run_program({"tar", "-tf", piped_tar});
    CHECK(entries.exit_code == 0);
    CHECK_THAT(entries.out, Catch::Contains(type == "docker" ? "manifest.json" : "index.json"));
  }
  // Refused before building: a directory to stdout, two outputs there, -q's id there too.
  for (const auto& [args, said] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"-o", "type=local,dest=-"}, "type=local writes a directory"},
           {{"-o", "-"}, "type=local writes a directory"},
           {{"-o", "type=docker,dest=-", "-o", "type=oci,dest=-"}, "only one output can go to stdout"},
           {{"-q", "-o", "type=docker,dest=-"}, "-q both write to stdout"}}) {
    auto refused = f.build("FROM busybox:latest\n", "out:v1", args);
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.err, Catch::Contains(said));
    CHECK(refused.out.empty());
  }
  // Nor to a terminal (script(1) gives the command one), for build's dest=- and for save;
  // where no pseudo-terminal can be made (a chroot without /dev/pts), a counted skip.
  auto tty_probe = hoist_test::run_program({"script", "-qec", "echo tty-ok", "/dev/null"});
  if (tty_probe.exit_code != 0 || tty_probe.out.find("tty-ok") == std::string::npos) {
    hoist_test::record_skip("the terminal part: script(1) cannot make a pseudo-terminal here: " + tty_probe.out +
                            tty_probe.err);
    return;
  }
  for (const auto& [command, said] : std::vector<std::pair<std::string, std::string>>{
           {"build -o type=docker,dest=- -t out:v1 " + f.context(), "--output dest=-: refusing to write an image archive to a terminal"},
           {"save busybox:latest", "error: refusing to write an image archive to a terminal; use -o"}}) {
    CAPTURE(command);
    auto on_tty = hoist_test::run_program(
        {"script", "-qec", hoist_test::hoist_bin() + " " + command + "; echo exit=$?", "/dev/null"},
        {"HOIST_ROOT=" + f.hoist().root()});
    CHECK_THAT(on_tty.out, Catch::Contains(said) && Catch::Contains("exit=2"));
  }
}

TEST_CASE("build: -f - reads the Dockerfile from stdin; --platform of another machine is refused",
          "[builder][build]") {
  BuildFixture f;
  auto r = f.hoist().run({"build", "--progress", "plain", "-t", "stdin", "-f", "-", f.context()},
                         "FROM busybox:latest\nLABEL from=stdin\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(f.config("stdin")["config"]["Labels"]["from"] == "stdin");
  auto other = f.build("FROM busybox:latest\n", "t", {"--platform", "linux/s390x"});
  CHECK(other.exit_code != 0);
  CHECK_THAT(other.err, Catch::Contains("linux/s390x"));
  auto missing = f.build("FROM nosuchimage.invalid/none:1\n");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("not in the local store"));
}
