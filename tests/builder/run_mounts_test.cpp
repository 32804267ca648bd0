// RUN --mount=type=tmpfs|secret|cache end to end through `hoist build` (builder/run_mounts.h):
// what the step sees, and what never reaches a layer, the cache key, the history, the output
// or the store.

#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"

namespace fs = std::filesystem;

namespace {

std::string random_token() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  const char* alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out = "hoist-secret-";
  for (int i = 0; i < 32; ++i) out += alphabet[gen() % 62];
  return out;
}

std::string sha256_hex(const std::string& text) {
  auto r = hoist_test::run_program({"sha256sum"}, {}, text);
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

// How many files under `dir` hold `needle`, read as they are and gunzipped.
int files_holding(const std::string& dir, const std::string& needle) {
  auto r = hoist_test::run_program(
      {"sh", "-c", "n=0; for f in $(find \"$1\" -type f); do if zcat -f \"$f\" 2>/dev/null | grep -qF \"$2\" || "
                   "grep -qF \"$2\" \"$f\"; then echo \"$f\"; n=$((n+1)); fi; done; echo count=$n",
       "sh", dir, needle});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return std::stoi(r.out.substr(r.out.rfind("count=") + 6));
}

}  // namespace

TEST_CASE("RUN --mount=type=tmpfs: a fresh tmpfs during the step, nothing in the layer",
          "[builder][run-mounts]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  auto rootfs = f.rootfs(
      "FROM busybox:latest\n"
      "WORKDIR /w\n"
      "RUN --mount=type=tmpfs,target=/scratch,size=1m echo x > /scratch/a && grep -q ' /scratch tmpfs ' /proc/mounts "
      "&& grep ' /scratch ' /proc/mounts > /w/mounts\n"
      "RUN --mount=type=tmpfs,target=t grep -q ' /w/t tmpfs ' /proc/mounts && touch /w/relative-ok\n"
      "RUN test ! -e /scratch\n");
  CHECK_FALSE(fs::exists(rootfs + "/scratch"));
  CHECK_FALSE(fs::exists(rootfs + "/w/t"));
  CHECK(fs::exists(rootfs + "/w/relative-ok"));
  CHECK_THAT(hoist_test::read_file(rootfs + "/w/mounts"), Catch::Contains("size=1024k"));
}

TEST_CASE("RUN --mount=type=secret: visible to its step only, never stored or shown",
          "[builder][run-mounts]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  const std::string token = random_token();
  const std::string secret_file = f.out_dir() + "/token.txt";
  { std::ofstream(secret_file) << token; }
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /file.sha && "
      "stat -c '%a %u:%g' /run/secrets/tok > /file.stat\n"
      "RUN --mount=type=secret,id=tok,env=TOK,target=/s/t,mode=0440,gid=7 printf %s \"$TOK\" | sha256sum | "
      "cut -d' ' -f1 > /env.sha && stat -c '%a %u:%g' /s/t > /target.stat\n"
      "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent\n"
      "RUN test ! -e /run/secrets/tok && test ! -e /s\n";
  const std::string export_dir = f.out_dir() + "/secret-rootfs";
  auto built = f.build(dockerfile, "secret:1", {"--secret", "id=tok,src=" + secret_file, "-o",
                                                "type=local,dest=" + export_dir});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  auto tagged = f.build(dockerfile, "secret:1", {"--secret", "id=tok,src=" + secret_file});
  REQUIRE(tagged.exit_code == 0);
  const std::string hash = sha256_hex(token);
  CHECK(hoist_test::read_file(export_dir + "/file.sha") == hash + "\n");
  CHECK(hoist_test::read_file(export_dir + "/env.sha") == hash + "\n");
  CHECK(hoist_test::read_file(export_dir + "/file.stat") == "400 0:0\n");
  CHECK(hoist_test::read_file(export_dir + "/target.stat") == "440 0:7\n");
  CHECK_FALSE(fs::exists(export_dir + "/run/secrets"));
  CHECK_FALSE(fs::exists(export_dir + "/s"));

  // Nowhere: every blob and file of the store (decompressed), the exported root, the output,
  // the history and the config.
  CHECK(files_holding(f.hoist().root(), token) == 0);
  CHECK(files_holding(export_dir, token) == 0);
  // The search finds what is there: the secret's source file, and the hash a step wrote,
  // inside a gzip layer of the store.
  CHECK(files_holding(f.out_dir(), token) >= 1);
  CHECK(files_holding(f.hoist().root() + "/blobs", hash) >= 1);
  CHECK(built.out.find(token) == std::string::npos);
  CHECK(built.err.find(token) == std::string::npos);
  auto history = f.hoist().run({"history", "--no-trunc", "secret:1"});
  auto inspect = f.hoist().run({"inspect", "secret:1"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.out.find(token) == std::string::npos);
  CHECK(inspect.out.find(token) == std::string::npos);

  // Not in the cache key either: another value keeps every step CACHED, as in BuildKit.
  { std::ofstream(secret_file) << random_token(); }
  auto again = f.build(dockerfile, "secret:1", {"--secret", "id=tok,src=" + secret_file});
  REQUIRE(again.exit_code == 0);
  CHECK(build_test::count_lines_with(again.err, "CACHED") == 4);

  // By environment variable, docker's other form.
  auto by_env = f.build("FROM busybox:latest\nRUN --mount=type=secret,id=e,required cat /run/secrets/e > /dev/null\n",
                        "t", {"--secret", "id=e,env=HOIST_TEST_SECRET"}, {"HOIST_TEST_SECRET=" + token});
  INFO(by_env.err);
  CHECK(by_env.exit_code == 0);
  CHECK(files_holding(f.hoist().root(), token) == 0);
}

TEST_CASE("RUN --mount=type=secret: a required secret not given, and bad --secret values",
          "[builder][run-mounts]") {
  build_test::BuildFixture f;
  auto missing = f.build("FROM busybox:latest\nRUN --mount=type=secret,id=key,required true\n");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("secret \"key\" is required but was not given"));
  auto [value, message] = GENERATE(table<std::string, std::string>({
      {"id=a", "give exactly one of src=FILE and env=VAR"},
      {"id=a,src=/nonexistent/file", "--secret id=a: reading \"/nonexistent/file\""},
      {"id=a,env=HOIST_TEST_UNSET_VARIABLE", "environment variable HOIST_TEST_UNSET_VARIABLE is not set"},
      {"id=a,color=blue", "unknown key \"color\""},
  }));
  CAPTURE(value);
  auto bad = f.build("FROM busybox:latest\n", "t", {"--secret", value});
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains(message));
}

TEST_CASE("RUN --mount=type=cache: kept between builds, never in a layer, pruned on request",
          "[builder][run-mounts]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN --mount=type=cache,target=/root/.cache/app echo run >> /root/.cache/app/log && "
      "wc -l < /root/.cache/app/log > /count\n"
      "RUN --mount=type=cache,target=/other,id=/root/.cache/app wc -l < /other/log > /count-by-id\n"
      "RUN --mount=type=cache,target=/c,uid=1000,gid=2000,mode=0700,id=owned stat -c '%u:%g %a' /c > /cstat\n";
  auto first = f.rootfs(dockerfile, {"--no-cache"});
  CHECK(hoist_test::read_file(first + "/count") == "1\n");
  CHECK(hoist_test::read_file(first + "/count-by-id") == "1\n");
  CHECK(hoist_test::read_file(first + "/cstat") == "1000:2000 700\n");
  CHECK_FALSE(fs::exists(first + "/root/.cache"));
  CHECK_FALSE(fs::exists(first + "/other"));
  CHECK_FALSE(fs::exists(first + "/c"));
  auto second = f.rootfs(dockerfile, {"--no-cache"});
  CHECK(hoist_test::read_file(second + "/count") == "2\n");

  auto fsck = f.hoist().run({"fsck"});
  INFO(fsck.out << fsck.err);
  CHECK(fsck.exit_code == 0);
  auto pruned = f.hoist().run({"prune", "--cache-mounts"});
  INFO(pruned.err);
  REQUIRE(pruned.exit_code == 0);
  CHECK_THAT(pruned.out, Catch::Contains("Deleted 2 cache mounts"));
  auto third = f.rootfs(dockerfile, {"--no-cache"});
  CHECK(hoist_test::read_file(third + "/count") == "1\n");
}

TEST_CASE("RUN --mount=type=cache,sharing=locked: one step at a time", "[builder][run-mounts]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  // Two builds of different contexts into one store, each holding the cache for 2 s and
  // recording whether it ever saw the other inside.
  hoist_test::TempDir other("hoist-ctx2");
  const std::string body =
      "RUN --mount=type=cache,target=/c,sharing=locked if [ -e /c/busy ]; then echo overlap > /c/overlap; fi; "
      "touch /c/busy; sleep 2; rm /c/busy; ls /c > /seen\n";
  f.write("Dockerfile", "FROM busybox:latest\nARG N=1\n" + body);
  { std::ofstream(other.path() + "/Dockerfile") << "FROM busybox:latest\nARG N=2\n" + body; }
  const std::string script = "\"$0\" build --progress plain -t a \"$1\" & a=$!; \"$0\" build --progress plain -t b \"$2\"; "
                             "b=$?; wait $a; echo status=$?,$b";
  auto both = hoist_test::run_program({"sh", "-c", script, hoist_test::hoist_bin(), f.context(), other.path()},
                                      {"HOIST_ROOT=" + f.hoist().root()});
  INFO(both.out << both.err);
  CHECK_THAT(both.out, Catch::Contains("status=0,0"));
  auto check = f.rootfs("FROM busybox:latest\nRUN --mount=type=cache,target=/c,sharing=locked ls /c > /final\n");
  CHECK(hoist_test::read_file(check + "/final").find("overlap") == std::string::npos);
}

TEST_CASE("RUN --mount=type=bind: the context or a stage, read-only, rw writes discarded, keyed by content",
          "[builder][run-mounts]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  f.write("src/a.txt", "from the context\n");
  f.write("src/ignored.txt", "ignored\n");
  f.write("single.txt", "one file\n");
  f.write(".dockerignore", "src/ignored.txt\n");
  const std::string dockerfile =
      "FROM busybox:latest AS stage\n"
      "RUN echo staged > /staged\n"
      "FROM busybox:latest\n"
      "RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /out && test ! -e /src/ignored.txt && "
      "! touch /src/x 2>/dev/null\n"
      "RUN --mount=type=bind,source=src,target=/src,rw touch /src/new && test -e /src/new && touch /rw-ok\n"
      "RUN --mount=type=bind,from=stage,source=/staged,target=/x cp /x /copied\n"
      "RUN --mount=type=bind,source=single.txt,target=single cat single > /single-out\n"
      "RUN --mount=target=/ctx ls /ctx > /ctx-list\n";
  auto rootfs = f.rootfs(dockerfile);
  CHECK(hoist_test::read_file(rootfs + "/out") == "from the context\n");
  CHECK(fs::exists(rootfs + "/rw-ok"));
  CHECK(hoist_test::read_file(rootfs + "/copied") == "staged\n");
  CHECK(hoist_test::read_file(rootfs + "/single-out") == "one file\n");
  CHECK_FALSE(fs::exists(rootfs + "/single"));
  CHECK_THAT(hoist_test::read_file(rootfs + "/ctx-list"), Catch::Contains("single.txt"));
  CHECK_FALSE(fs::exists(rootfs + "/src"));
  CHECK_FALSE(fs::exists(rootfs + "/x"));
  CHECK_FALSE(fs::exists(rootfs + "/ctx"));
  CHECK_FALSE(fs::exists(f.context() + "/src/new"));  // rw writes never reach the context

  // Keyed by what it shows: an ignored file's change keeps every step CACHED, a bound one's
  // reruns the steps that bind it.
  f.write("src/ignored.txt", "changed, but ignored\n");
  auto same = f.build(dockerfile);
  REQUIRE(same.exit_code == 0);
  CHECK(build_test::count_lines_with(same.err, "CACHED") == 6);
  f.write("src/a.txt", "changed\n");
  auto changed = f.build(dockerfile);
  REQUIRE(changed.exit_code == 0);
  CHECK(build_test::count_lines_with(changed.err, "CACHED") == 1);  // the stage's RUN
}

namespace {

// A static program for the busybox image that asks the agent at $SSH_AUTH_SOCK for its
// identities (SSH2_AGENTC_REQUEST_IDENTITIES) and prints the answer's message type.
constexpr const char* kAgentProbe = R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
  const char* path = getenv("SSH_AUTH_SOCK");
  if (!path) { puts("no SSH_AUTH_SOCK"); return 2; }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) { perror("connect"); return 3; }
  unsigned char req[5] = {0, 0, 0, 1, 11}, rsp[5];
  if (write(fd, req, 5) != 5) return 4;
  size_t got = 0;
  while (got < 5) { ssize_t n = read(fd, rsp + got, 5 - got); if (n <= 0) return 5; got += (size_t)n; }
  printf("%d\n", rsp[4]);
  return 0;
}
)";

}  // namespace

TEST_CASE("RUN --mount=type=ssh: a real ssh-agent answers through the step's own socket",
          "[builder][run-mounts]") {
  if (hoist_test::run_program({"sh", "-c", "command -v ssh-agent && command -v cc"}).exit_code != 0)
    HOIST_SKIP("ssh-agent or cc missing (Debian packages openssh-client, gcc)");
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);
  const std::string probe_c = f.out_dir() + "/probe.c";
  { std::ofstream(probe_c) << kAgentProbe; }
  auto compiled = hoist_test::run_program({"cc", "-static", "-O1", "-o", f.context() + "/probe", probe_c});
  INFO(compiled.err);
  REQUIRE(compiled.exit_code == 0);
  const std::string agent_socket = f.out_dir() + "/agent.sock";
  auto agent = hoist_test::run_program({"ssh-agent", "-a", agent_socket});
  INFO(agent.out << agent.err);
  REQUIRE(agent.exit_code == 0);
  const size_t at = agent.out.find("SSH_AGENT_PID=");
  REQUIRE(at != std::string::npos);
  const std::string agent_pid = agent.out.substr(at + 14, agent.out.find(';', at) - at - 14);
  struct StopAgent {  // no kill(1) on a minbase Debian: the syscall
    pid_t pid;
    ~StopAgent() {
      if (pid > 0) ::kill(pid, SIGTERM);
    }
  } stop{static_cast<pid_t>(std::atoi(agent_pid.c_str()))};
  ::chmod(agent_socket.c_str(), 0600);

  const std::string dockerfile =
      "FROM busybox:latest\n"
      "COPY probe /probe\n"
      "RUN --mount=type=ssh /probe > /answer && stat -c '%a %u:%g' \"$SSH_AUTH_SOCK\" > /sockstat && "
      "echo \"$SSH_AUTH_SOCK\" > /sockpath\n"
      "RUN --mount=type=ssh,id=other,target=/tmp/a.sock,mode=0666,uid=1000 SSH_AUTH_SOCK=/tmp/a.sock /probe > /answer2 "
      "&& stat -c '%a %u' /tmp/a.sock > /sockstat2\n"
      "RUN --mount=type=ssh,id=absent test -z \"$SSH_AUTH_SOCK\" && test ! -e /run/buildkit/ssh_agent.0\n";
  auto rootfs = f.rootfs(dockerfile, {"--ssh", "default=" + agent_socket, "--ssh", "other=" + agent_socket});
  CHECK(hoist_test::read_file(rootfs + "/answer") == "12\n");  // SSH2_AGENT_IDENTITIES_ANSWER
  CHECK(hoist_test::read_file(rootfs + "/sockstat") == "600 0:0\n");
  CHECK(hoist_test::read_file(rootfs + "/sockpath") == "/run/buildkit/ssh_agent.0\n");
  CHECK(hoist_test::read_file(rootfs + "/answer2") == "12\n");
  CHECK(hoist_test::read_file(rootfs + "/sockstat2") == "666 1000\n");
  CHECK_FALSE(fs::exists(rootfs + "/run/buildkit"));
  CHECK_FALSE(fs::exists(rootfs + "/tmp/a.sock"));

  auto missing = f.build("FROM busybox:latest\nRUN --mount=type=ssh,id=gh,required true\n");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("ssh agent \"gh\" is required but was not given"));
  auto not_socket = f.build("FROM busybox:latest\n", "t", {"--ssh", "default=" + probe_c});
  CHECK(not_socket.exit_code != 0);
  CHECK_THAT(not_socket.err, Catch::Contains("is not a socket"));
}
