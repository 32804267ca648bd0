#include "tests/builder/hoist_runner.h"

#include "tests/support/files.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace hoist_test {

pid_t spawn_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& in_path, const std::string& out_path,
                    const std::string& err_path, bool own_group) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (own_group) ::setpgid(0, 0);
    int in = ::open(in_path.c_str(), O_RDONLY);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  // Also here, so a kill right after fork already finds the group.
  if (pid > 0 && own_group) ::setpgid(pid, pid);
  return pid;
}

RunResult run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& stdin_text) {
  TempDir io("hoist-run");
  const std::string in_path = io.path() + "/stdin", out_path = io.path() + "/stdout",
                    err_path = io.path() + "/stderr";
  write_file(in_path, stdin_text);
  RunResult result;
  pid_t pid = spawn_program(argv, env, in_path, out_path, err_path, false);
  if (pid < 0) return result;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

const std::string& busybox_rootfs_tar() {
  static TempDir dir("hoist-busybox");
  static const std::string path = [] {
    std::string tar = dir.path() + "/busybox-rootfs.tar";
    run_program({"sh", source_root() + "/tests/fixtures/make_busybox_rootfs.sh", tar});
    return tar;
  }();
  return path;
}

HoistRunner::HoistRunner() : dir_(std::make_unique<TempDir>("hoist-store")), root_(dir_->path()) {}

HoistRunner::HoistRunner(std::string root) : root_(std::move(root)) {}

RunResult HoistRunner::run(const std::vector<std::string>& args, const std::string& stdin_text,
                           const std::vector<std::string>& env) const {
  std::vector<std::string> argv = launcher_;
  argv.push_back(hoist_bin());
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> all_env = {"HOIST_ROOT=" + root_};
  all_env.insert(all_env.end(), env.begin(), env.end());
  return run_program(argv, all_env, stdin_text);
}

RunResult HoistRunner::import_busybox(const std::string& name, const std::vector<std::string>& env) const {
  return run({"import", "--change",
              "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--change",
              "CMD [\"sh\"]", busybox_rootfs_tar(), name},
             "", env);
}

std::string HoistRunner::auto_executor(const std::string& image) const {
  static const std::string probed = [&] {
    auto r = run({"build", "--progress", "plain", "--no-cache", "-"},
                 "FROM " + image + "\nRUN true\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string marker = "RUN executor: ";
    auto at = r.err.find(marker);
    REQUIRE(at != std::string::npos);
    at += marker.size();
    return r.err.substr(at, r.err.find('\n', at) - at);
  }();
  return probed;
}

}  // namespace hoist_test
