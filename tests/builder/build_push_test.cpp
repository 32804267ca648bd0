// `hoist build --push` to a real registry on 127.0.0.1, pulled into a second, empty store
// and run there.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;

namespace {

// docker-registry on a loopback port, stopped on destruction.
class LocalRegistry {
 public:
  explicit LocalRegistry(const std::string& dir) {
    port_ = 20000 + static_cast<int>(::getpid() % 20000);
    std::string config = dir + "/config.yml";
    std::ofstream(config) << "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                             "storage:\n  filesystem:\n    rootdirectory: "
                          << dir << "/storage\nhttp:\n  addr: 127.0.0.1:" << port_
                          << "\n  secret: hoist-build-test\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      // The registry logs every 404 of a HEAD check, even at level error: keep it quiet.
      int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      ::execlp("docker-registry", "docker-registry", "serve", config.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      auto r = hoist_test::run_program({"sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port_)});
      if (r.exit_code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~LocalRegistry() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("build: --push to a local registry, pulled into an empty store and run there",
          "[builder][build][push]") {
  if (hoist_test::run_program({"sh", "-c", "command -v docker-registry"}).exit_code != 0) {
    WARN("docker-registry not installed; skipped");
    return;
  }
  BuildFixture f;
  hoist_test::TempDir registry_dir("hoist-registry");
  LocalRegistry registry(registry_dir.path());
  f.write("hello.sh", "echo pushed-and-pulled\n");
  std::string name = registry.host() + "/hoist/pushed:v1";
  auto built = f.build("FROM busybox:latest\nCOPY hello.sh /\nCMD [\"/bin/sh\", \"/hello.sh\"]\n", name,
                       {"--push"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);

  hoist_test::HoistRunner second;
  auto pulled = second.run({"pull", name});
  INFO(pulled.err);
  REQUIRE(pulled.exit_code == 0);
  auto ran = second.run({"run", "--rm", name});
  INFO(ran.err);
  if (ran.exit_code == 2 && ran.err.find("unknown command") != std::string::npos) return;  // no hoist run yet
  CHECK(ran.exit_code == 0);
  CHECK_THAT(ran.out, Catch::Contains("pushed-and-pulled"));
}
