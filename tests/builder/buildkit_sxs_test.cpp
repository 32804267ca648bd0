// [buildkit-sxs] RUN --mount side by side with Docker's BuildKit: the same Dockerfile and
// context built by `DOCKER_BUILDKIT=1 /usr/bin/docker build` (Debian's docker.io 20.10, whose
// dockerd has BuildKit built in and whose built-in Dockerfile frontend knows RUN --mount
// without a `# syntax=` line) and by hoist, both FROM the same busybox image (hoist imports
// it, `hoist save` + `docker load` give docker the same layer). Docker's image comes back
// through `docker save` + `hoist load`; both root filesystems are exported with
// `hoist build -o type=local` and compared entry by entry (type, mode, owner, content,
// symlink target; not mtimes), and the image configs and histories field by field.
//
// Differences found (asserted below, so a change on either side shows):
// - BuildKit 0.8 (docker 20.10) leaves the directories it created as mount points in the
//   layer (/ctx, /run/secrets, /var/cache/x...: empty, 0755 root); hoist leaves none (later
//   BuildKit releases remove such stubs too; not compared here).
// - EXPOSE's history entry: BuildKit 0.8 writes Go's %v of its port map,
//   "EXPOSE map[53/udp:{} 8080/tcp:{}]"; hoist writes the instruction as given.
// - docker 20.10 sets the deprecated ArgsEscaped: true with CMD/ENTRYPOINT on Linux and
//   comments each history entry "buildkit.dockerfile.v0"; hoist writes neither.
// Needs the engine docker_load_test.cpp uses (tests/builder/docker_engine.h) and
// /usr/bin/docker 20.10: a newer CLI builds through buildx, which is not installed here.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/builder/docker_engine.h"
#include "tests/builder/hoist_runner.h"
#include "tests/layers/tree_compare.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

using hoist_test::RunResult;
using hoist_test::run_program;
using hoist_test::trimmed;

namespace {

const std::string kDockerCli = "/usr/bin/docker";

// Why this test cannot build with BuildKit through kDockerCli, or "" when it can.
std::string buildkit_cli_error() {
  if (::access(kDockerCli.c_str(), X_OK) != 0)
    return kDockerCli + " missing (Debian package docker.io 20.10, whose dockerd builds with BuildKit; "
           "another CLI needs buildx)";
  if (auto why = hoist_test::docker_engine_error(kDockerCli); !why.empty()) return why;
  RunResult version = run_program({kDockerCli, "version", "--format", "{{.Client.Version}}"});
  const std::string v = trimmed(version.out);
  if (version.exit_code != 0 || !v.starts_with("20.10."))
    return kDockerCli + " is version \"" + v + "\", not 20.10: without dockerd's built-in BuildKit path it needs buildx";
  return "";
}

// The root filesystem of `image` (in f's store), exported by hoist to `dest`.
void export_rootfs(const build_test::BuildFixture& f, const std::string& image, const std::string& dest) {
  RunResult r = f.hoist().run({"build", "--progress", "plain", "-o", "type=local,dest=" + dest, "-"},
                              "FROM " + image + "\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// An ssh-agent listening on `socket` until the object goes.
class SshAgent {
 public:
  SshAgent(const std::string& socket, const std::string& dir)
      : pid_(hoist_test::spawn_program({"ssh-agent", "-D", "-a", socket}, {}, "/dev/null", dir + "/agent.out",
                                       dir + "/agent.err", true)) {
    for (int i = 0; i < 100 && pid_ > 0 && ::access(socket.c_str(), F_OK) != 0; ++i) ::usleep(50000);
  }
  ~SshAgent() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  SshAgent(const SshAgent&) = delete;
  SshAgent& operator=(const SshAgent&) = delete;

 private:
  pid_t pid_;
};

}  // namespace

TEST_CASE("RUN --mount cache, secret, bind, tmpfs and ssh give what Docker's BuildKit gives",
          "[builder][interop][docker][buildkit-sxs]") {
  if (auto why = buildkit_cli_error(); !why.empty()) HOIST_SKIP(why);
  if (::access("/usr/bin/ssh-agent", X_OK) != 0) HOIST_SKIP("ssh-agent missing (Debian package openssh-client)");
  build_test::BuildFixture f;
  const std::string out = f.out_dir();
  const std::string id = std::to_string(::getpid());
  const std::string tag = "hoist-buildkit-sxs-" + id + ":v1";

  // The same busybox layer on both sides.
  REQUIRE(f.hoist().run({"save", "-o", out + "/busybox.tar", "busybox:latest"}).exit_code == 0);
  RunResult loaded = run_program({kDockerCli, "load", "-i", out + "/busybox.tar"});
  INFO(loaded.out << loaded.err);
  REQUIRE(loaded.exit_code == 0);

  f.write("data.txt", "hello\n");
  f.write("run.sh", "echo run\n", 0755);
  f.write("sub/f", "inner\n", 0600);
  hoist_test::write_file(out + "/secret", "s3cr3t-" + id);
  const std::string agent_socket = out + "/agent.sock";
  SshAgent agent(agent_socket, out);
  REQUIRE(::access(agent_socket.c_str(), F_OK) == 0);
  // The cache ids are this process's own, so a cache left in the engine by an earlier run
  // is not seen.
  const std::string dockerfile =
      "FROM busybox:latest AS helper\n"
      "RUN mkdir /out && echo from-helper > /out/h.txt && ln -s h.txt /out/link && chmod 0640 /out/h.txt\n"
      "FROM busybox:latest\n"
      "ENV A=1\n"
      "WORKDIR /w\n"
      "RUN --mount=type=cache,id=sxs-" + id + ",target=/var/cache/x echo one >> /var/cache/x/log && "
      "stat -c '%a %u %g' /var/cache/x > /w/cache-mode\n"
      "RUN --mount=type=cache,id=sxs-" + id + ",target=/var/cache/x cp /var/cache/x/log /w/cache-log\n"
      "RUN --mount=type=cache,id=sxs-owned-" + id + ",target=/c,uid=7,gid=8,mode=0750 "
      "stat -c '%a %u %g' /c > /w/cache-owned\n"
      "RUN --mount=type=secret,id=mysecret wc -c < /run/secrets/mysecret > /w/secret-len && "
      "stat -c '%a %u %g %n' /run/secrets /run/secrets/mysecret > /w/secret-mode\n"
      "RUN --mount=type=secret,id=mysecret,target=/etc/s,mode=0440,uid=7,gid=8 "
      "stat -c '%a %u %g %n' /etc/s > /w/secret-target\n"
      "RUN --mount=type=bind,target=/ctx cat /ctx/data.txt /ctx/sub/f > /w/from-ctx && "
      "stat -c '%a %n' /ctx/data.txt /ctx/run.sh /ctx/sub/f > /w/ctx-mode\n"
      "RUN --mount=type=bind,source=sub,target=/sub ls /sub > /w/from-sub\n"
      "RUN --mount=type=bind,from=helper,source=/out,target=/h cp -a /h /w/helper\n"
      "RUN --mount=type=bind,target=/ctx,rw echo x > /ctx/new && ls /ctx > /w/rw-ls\n"
      "RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && cat /scratch/t > /w/tmpfs-read && "
      "stat -c '%a %u %g' /scratch > /w/tmpfs-mode\n"
      "RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && "
      "stat -c '%a %u %g %n' \"$SSH_AUTH_SOCK\" > /w/ssh-default\n"
      "RUN --mount=type=ssh,id=k,target=/agent,mode=0666,uid=5 test -S /agent && "
      "stat -c '%a %u %g %n' /agent > /w/ssh-target\n"
      "SHELL [\"/bin/sh\", \"-ec\"]\n"
      "EXPOSE 8080 53/udp\n"
      "VOLUME /data\n"
      "USER nobody\n"
      "ENTRYPOINT [\"/bin/sh\", \"-c\"]\n"
      "CMD [\"ls \\\"$A\\\"\", \"x\"]\n";
  const std::vector<std::string> secrets = {"--secret", "id=mysecret,src=" + out + "/secret",
                                            "--ssh", "default=" + agent_socket,
                                            "--ssh", "k=" + agent_socket};

  const std::string ours = out + "/hoist-rootfs";
  std::vector<std::string> extra = secrets;
  extra.insert(extra.end(), {"-o", "type=local,dest=" + ours});
  RunResult built = f.build(dockerfile, "ours", extra);
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  // -o type=local names no image: the same build again (all cached) for the config.
  RunResult tagged = f.build(dockerfile, "ours", secrets);
  INFO(tagged.err);
  REQUIRE(tagged.exit_code == 0);

  // dockerd runs without a bridge (.ci/docker.sh), so its RUN steps get no network.
  std::vector<std::string> docker_build = {kDockerCli, "build", "--progress", "plain", "--network", "none", "-t", tag};
  docker_build.insert(docker_build.end(), secrets.begin(), secrets.end());
  docker_build.push_back(f.context());
  RunResult theirs_built = run_program(docker_build, {"DOCKER_BUILDKIT=1"});
  INFO(theirs_built.out << theirs_built.err);
  REQUIRE(theirs_built.exit_code == 0);
  RunResult saved = run_program({kDockerCli, "save", "-o", out + "/theirs.tar", tag});
  run_program({kDockerCli, "rmi", "-f", tag});
  REQUIRE(saved.exit_code == 0);
  RunResult hoist_loaded = f.hoist().run({"load", "-i", out + "/theirs.tar"});
  INFO(hoist_loaded.err);
  REQUIRE(hoist_loaded.exit_code == 0);
  const std::string theirs = out + "/docker-rootfs";
  export_rootfs(f, tag, theirs);

  // What the RUN steps saw, read back from both.
  CHECK(hoist_test::read_file(ours + "/w/cache-log") == "one\n");
  CHECK(hoist_test::read_file(ours + "/w/secret-len") == std::to_string(7 + id.size()) + "\n");
  CHECK(hoist_test::read_file(ours + "/w/ssh-target") == "666 5 0 /agent\n");

  tests::TreeOptions no_mtimes;
  no_mtimes.compare_mtimes = false;
  // The mount points BuildKit 0.8 leaves behind (see the top of this file); nothing else.
  CHECK(tests::compare_trees(theirs, ours, no_mtimes) ==
        std::vector<std::string>{
            "c: missing (expected d 0755 0:0)",           "ctx: missing (expected d 0755 0:0)",
            "h: missing (expected d 0755 0:0)",           "run/buildkit: missing (expected d 0755 0:0)",
            "run/secrets: missing (expected d 0755 0:0)", "scratch: missing (expected d 0755 0:0)",
            "sub: missing (expected d 0755 0:0)",         "var/cache: missing (expected d 0755 0:0)",
            "var/cache/x: missing (expected d 0755 0:0)",
        });

  auto config_of = [&](const std::string& image) {
    RunResult r = f.hoist().run({"inspect", image});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out).at(0).at("ImageConfig");
  };
  const nlohmann::json want = config_of(tag);
  const nlohmann::json got = config_of("ours");
  for (const char* field : {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Shell", "ExposedPorts", "Volumes"}) {
    INFO(field);
    CHECK(got["config"].value(field, nlohmann::json()) == want["config"].value(field, nlohmann::json()));
  }
  CHECK(want["config"]["ArgsEscaped"] == true);
  CHECK_FALSE(got["config"].contains("ArgsEscaped"));
  CHECK(got["rootfs"]["diff_ids"].size() == want["rootfs"]["diff_ids"].size());
  CHECK(got["rootfs"]["diff_ids"][0] == want["rootfs"]["diff_ids"][0]);
  REQUIRE(got["history"].size() == want["history"].size());
  for (size_t i = 1; i < want["history"].size(); ++i) {
    const auto& w = want["history"][i];
    const auto& g = got["history"][i];
    INFO(w.dump() << " | " << g.dump());
    if (w.value("created_by", "") == "EXPOSE map[53/udp:{} 8080/tcp:{}]")
      CHECK(g["created_by"] == "EXPOSE 8080 53/udp");  // Go's %v of a map; hoist keeps the words
    else
      CHECK(g.value("created_by", "") == w.value("created_by", ""));
    CHECK(g.value("empty_layer", false) == w.value("empty_layer", false));
    CHECK(w.value("comment", "") == "buildkit.dockerfile.v0");
    CHECK_FALSE(g.contains("comment"));
  }
}
