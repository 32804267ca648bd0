// examples/kubernetes on one machine: hoist's image (examples/kubernetes/local, the host's own
// build of hoist and its shared libraries on the busybox base) runs under `hoist run` with the
// profile of the example's Job (no capability beyond Docker's default set, no CAP_SYS_ADMIN,
// a read-only root but for the workspace volume and /tmp, credentials from a read-only
// config.json),
// builds a Dockerfile with RUN steps there and pushes it, with its build cache, to a loopback
// registry; the image is then pulled and run outside. A second "pod" with an empty store
// builds again from the registry's cache without running a step.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <httplib.h>

#include "tests/builder/build_fixture.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using build_test::count_lines_with;
using hoist_test::HoistRunner;
using hoist_test::read_file;
using hoist_test::RunResult;
using hoist_test::write_file;

namespace {

const std::string kExample = "/examples/kubernetes";

// The Job's capabilities (examples/kubernetes/job.yaml): Docker's default set without
// NET_RAW and NET_BIND_SERVICE (within Kubernetes' baseline Pod Security level).
const std::string kJobCapabilities =
    "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,MKNOD,SETGID,SETUID,SETPCAP,SETFCAP,SYS_CHROOT,AUDIT_WRITE";

std::string base64(const std::string& text) {
  auto r = hoist_test::run_program({"base64", "-w0"}, {}, text);
  return r.out;
}

// A pod of the Job: a fresh workspace (the emptyDir) holding the repository in src/.
struct Pod {
  hoist_test::TempDir workspace{"hoist-k8s-workspace"};
  explicit Pod(const std::string& dockerfile) {
    write_file(workspace.path() + "/src/Dockerfile", dockerfile);
    write_file(workspace.path() + "/src/greeting.txt", "built in a pod\n");
  }
  // hoist run IMAGE with the Job's securityContext, then ARGS (the container's command).
  RunResult run(const HoistRunner& hoist, const std::string& docker_config,
                const std::vector<std::string>& args, const std::string& entrypoint = "") const {
    std::vector<std::string> argv = {
        "run", "--rm", "--pull", "never", "--network", "host",  // 127.0.0.1 is the registry
        "--cap-drop", "ALL", "--cap-add", kJobCapabilities, "--read-only", "--tmpfs", "/tmp",
        "-v", workspace.path() + ":/workspace", "-v", docker_config + ":/etc/hoist/docker:ro",
        "-e", "DOCKER_CONFIG=/etc/hoist/docker"};
    if (!entrypoint.empty()) {
      argv.push_back("--entrypoint");
      argv.push_back(entrypoint);
    }
    argv.push_back("hoist:local");
    argv.insert(argv.end(), args.begin(), args.end());
    return hoist.run(argv);
  }
};

// What `kubectl apply --dry-run=client` asks of an API server, answered on 127.0.0.1 for the
// kinds the example uses (Job, Secret): API discovery, and 404 for every object (none
// exists yet). It serves no OpenAPI schema: kubectl's field validation needs a real cluster's.
class DiscoveryServer {
 public:
  DiscoveryServer() {
    auto json = [](const std::string& body) {
      return [body](const httplib::Request&, httplib::Response& res) {
        res.set_content(body, "application/json");
      };
    };
    server_.Get("/api", json(R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]})"));
    server_.Get("/apis", json(R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"batch",)"
                              R"("versions":[{"groupVersion":"batch/v1","version":"v1"}],)"
                              R"("preferredVersion":{"groupVersion":"batch/v1","version":"v1"}}]})"));
    const std::string verbs = R"("verbs":["create","delete","get","list","patch","update","watch"])";
    server_.Get("/api/v1", json(R"({"kind":"APIResourceList","groupVersion":"v1","resources":[)"
                                R"({"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret",)" +
                                verbs + R"(},{"name":"namespaces","singularName":"namespace","namespaced":false,)"
                                R"("kind":"Namespace",)" + verbs + "}]}"));
    server_.Get("/apis/batch/v1", json(R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"batch/v1",)"
                                       R"("resources":[{"name":"jobs","singularName":"job","namespaced":true,)"
                                       R"("kind":"Job",)" + verbs + "}]}"));
    server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",)"
                      R"("message":"not found: )" + req.path + R"(","code":404})",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~DiscoveryServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("kubernetes: kubectl takes the example's manifests (client dry run)", "[builder][kubernetes]") {
  if (hoist_test::run_program({"sh", "-c", "command -v kubectl"}).exit_code != 0)
    HOIST_SKIP("kubectl not installed: the manifests were not checked");
  DiscoveryServer server;
  hoist_test::TempDir home("hoist-kubectl");
  // Only this loopback server, whatever the caller's kubeconfig says.
  write_file(home.path() + "/config",
             "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: " + server.url() +
                 "\ncontexts:\n- name: local\n  context:\n    cluster: local\n    namespace: default\n"
                 "current-context: local\nusers: []\n");
  const std::vector<std::string> env = {"KUBECONFIG=" + home.path() + "/config", "HOME=" + home.path()};
  const std::string manifest = hoist_test::source_root() + kExample + "/job.yaml";
  RunResult applied = hoist_test::run_program(
      {"kubectl", "apply", "--dry-run=client", "--validate=false", "-f", manifest}, env);
  INFO(applied.out << applied.err);
  CHECK(applied.exit_code == 0);
  CHECK_THAT(applied.out, Catch::Contains("job.batch/hoist-build created (dry run)"));
  // The Job as kubectl decoded it: the fields that make the profile.
  RunResult decoded = hoist_test::run_program(
      {"kubectl", "create", "--dry-run=client", "--validate=false", "-o", "json", "-f", manifest}, env);
  INFO(decoded.err);
  CHECK(decoded.exit_code == 0);
  for (const char* field : {"\"readOnlyRootFilesystem\": true", "\"allowPrivilegeEscalation\": false",
                            "\"privileged\": false", "\"secretName\": \"registry-credentials\"",
                            "\"path\": \"config.json\"", "\"value\": \"/etc/hoist/docker\""}) {
    CAPTURE(field);
    CHECK_THAT(decoded.out, Catch::Contains(field));
  }
  CHECK_THAT(decoded.out, !Catch::Contains("SYS_ADMIN"));
  // Field validation needs the cluster's OpenAPI schema, which no offline machine has.
  RunResult strict = hoist_test::run_program({"kubectl", "apply", "--dry-run=client", "-f", manifest}, env);
  if (strict.exit_code != 0)
    HOIST_SKIP("kubectl's schema validation (--validate=strict) needs a cluster's OpenAPI schema: "
               << strict.err.substr(0, strict.err.find('\n')));
  CHECK_THAT(strict.out, Catch::Contains("created (dry run)"));
}

TEST_CASE("kubernetes: the example's Dockerfiles parse strictly", "[builder][kubernetes]") {
  HoistRunner hoist;
  for (const char* file : {"/Dockerfile", "/local/Dockerfile"}) {
    RunResult r = hoist.run({"parse", "--strict", "-f", hoist_test::source_root() + kExample + file});
    CAPTURE(file);
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("kubernetes: hoist's image builds and pushes a Dockerfile with RUN under the Job's profile",
          "[builder][kubernetes][push]") {
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  if (hoist_test::run_program({"sh", "-c", "command -v ldd"}).exit_code != 0)
    HOIST_SKIP("ldd missing (Debian package libc-bin): make-context.sh finds hoist's libraries with it");
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  // The outer `hoist run` needs the namespace sandbox (its -v and --read-only are mounts).
  if (hoist.chroot_executor())
    HOIST_SKIP("hoist run's -v and --read-only need the sandbox's namespaces; RUN executor: "
               << hoist.auto_executor());

  // hoist's image, as examples/kubernetes/README.md makes it offline.
  hoist_test::TempDir context("hoist-k8s-image");
  RunResult made = hoist_test::run_program(
      {"sh", hoist_test::source_root() + kExample + "/local/make-context.sh", hoist_test::hoist_bin(),
       context.path()});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  RunResult image = hoist.run({"build", "-q", "-t", "hoist:local", context.path()});
  INFO(image.err);
  REQUIRE(image.exit_code == 0);

  // The registry with Basic auth; config.json as the Job's Secret gives it.
  hoist_test::RegistryServer::Options options;
  options.auth = hoist_test::RegistryServer::Auth::Basic;
  hoist_test::RegistryServer registry(options);
  REQUIRE(registry.start_error() == "");
  hoist_test::TempDir docker_config("hoist-k8s-docker-config");
  write_file(docker_config.path() + "/config.json",
             "{\"auths\": {\"" + registry.host() + "\": {\"auth\": \"" +
                 base64(options.user + ":" + options.password) + "\"}}}\n");
  const std::vector<std::string> config_env = {"DOCKER_CONFIG=" + docker_config.path()};
  const std::string base = registry.host() + "/library/busybox:1";
  REQUIRE(hoist.run({"tag", "busybox:latest", base}).exit_code == 0);
  RunResult pushed_base = hoist.run({"push", "-q", base}, "", config_env);
  INFO(pushed_base.err);
  REQUIRE(pushed_base.exit_code == 0);

  // Inside: no CAP_SYS_ADMIN (bit 21), nothing beyond the Job's set; / read-only.
  Pod first("FROM " + base + "\n"
            "COPY greeting.txt /greeting.txt\n"
            // /proc is the image's empty directory, /dev/null takes writes, neither reaches
            // the layer.
            "RUN echo \"RAN:\"1 && ls -A /proc > /proc-entries && echo discarded > /dev/null \\\n"
            "    && cat /dev/null > /null-read && id -u > /uid\n"
            "RUN echo \"RAN:\"2 && echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd \\\n"
            "    && chown app /greeting.txt\n"
            "USER app\n"
            "CMD [\"cat\", \"/greeting.txt\"]\n");
  RunResult profile = first.run(
      hoist, docker_config.path(),
      {"-c", "grep CapEff /proc/self/status; touch /x 2>&1; test -r /etc/hoist/docker/config.json && echo secret-ok"},
      "/bin/sh");
  INFO(profile.err);
  CHECK(profile.exit_code == 0);
  CHECK(profile.out == "CapEff:\t00000000a80401fb\ntouch: /x: Read-only file system\nsecret-ok\n");

  const std::string app = registry.host() + "/team/app:1";
  const std::vector<std::string> build = {
      "build", "--progress", "plain",
      "--cache-from", "type=registry,ref=" + registry.host() + "/team/app:buildcache",
      "--cache-to", "type=registry,ref=" + registry.host() + "/team/app:buildcache,mode=max",
      "-t", app, "--push", "-o", "type=local,dest=/workspace/out", "/workspace/src"};
  RunResult built = first.run(hoist, docker_config.path(), build);
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(count_lines_with(built.err, "RUN executor: copy+chroot (no mount namespace: ") == 1);
  CHECK_THAT(built.err, Catch::Contains("RUN sees no /proc, /sys or devpts"));
  CHECK(count_lines_with(built.err, " RAN:") == 2);
  CHECK_THAT(built.err, Catch::Contains("pushed " + app + "@sha256:"));
  const std::string out = first.workspace.path() + "/out";
  CHECK(read_file(out + "/proc-entries") == "");
  CHECK(read_file(out + "/null-read") == "discarded\n");
  CHECK(read_file(out + "/uid") == "0\n");
  CHECK_FALSE(std::filesystem::exists(out + "/dev/null"));
  // Nothing was left in the read-only root or outside the workspace by the build.
  CHECK(std::filesystem::is_empty(first.workspace.path() + "/store/hoist-build"));

  // Pulled and run outside, in another store.
  HoistRunner outside;
  RunResult pulled = outside.run({"pull", "-q", app}, "", config_env);
  INFO(pulled.err);
  REQUIRE(pulled.exit_code == 0);
  RunResult ran = outside.run({"run", "--rm", "--pull", "never", app});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "built in a pod\n");
  RunResult user = outside.run({"run", "--rm", "--pull", "never", app, "sh", "-c", "id -u; stat -c %U /greeting.txt"});
  CHECK(user.out == "1234\napp\n");

  // The next pod starts with an empty store: the registry's cache runs no step, and the
  // image is the same.
  Pod second(read_file(first.workspace.path() + "/src/Dockerfile"));
  RunResult again = second.run(hoist, docker_config.path(), build);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(count_lines_with(again.err, " RAN:") == 0);
  CHECK_THAT(again.err, Catch::Contains("pushed " + app + "@sha256:"));
  const std::string pushed = "pushed " + app + "@sha256:";
  const size_t at = built.err.find(pushed);
  REQUIRE(at != std::string::npos);
  CHECK_THAT(again.err, Catch::Contains(built.err.substr(at, pushed.size() + 64)));
}
