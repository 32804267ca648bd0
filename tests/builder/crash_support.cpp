#include "tests/builder/crash_support.h"

#include "tests/support/files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace crash_test {

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

Background::Background(const std::string& root, const std::vector<std::string>& args,
                       const std::vector<std::string>& env)
    : io_("hoist-bg") {
  std::vector<std::string> argv = {hoist_test::hoist_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> all_env = {"HOIST_ROOT=" + root};
  all_env.insert(all_env.end(), env.begin(), env.end());
  pid_ = hoist_test::spawn_program(argv, all_env, "/dev/null", io_.path() + "/stdout",
                                   io_.path() + "/stderr", true);
}

Background::~Background() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    wait();
  }
  if (pid_ > 0) group_gone_within(5);
}

bool Background::exited() {
  if (reaped_ || pid_ <= 0) return true;
  pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return reaped_;
}

hoist_test::RunResult Background::wait() {
  hoist_test::RunResult result;
  if (pid_ <= 0) return result;
  while (!reaped_) {
    if (::waitpid(pid_, &status_, 0) == pid_) reaped_ = true;
    else if (errno != EINTR) break;
  }
  result.exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  result.out = hoist_test::read_file(io_.path() + "/stdout");
  result.err = hoist_test::read_file(io_.path() + "/stderr");
  return result;
}

void Background::kill_hoist() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  wait();
}

bool Background::group_gone_within(double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    // Orphans of the group were reparented to us (become_subreaper): reap them.
    while (::waitpid(-pid_, nullptr, WNOHANG) > 0) {
    }
    if (::kill(-pid_, 0) != 0 && errno == ESRCH) return true;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(-pid_, SIGKILL);
  while (::waitpid(-pid_, nullptr, WNOHANG) > 0) {
  }
  return false;
}

KillOutcome run_and_kill(const std::string& root, const std::vector<std::string>& args,
                         double delay_seconds) {
  KillOutcome outcome;
  Background bg(root, args);
  std::this_thread::sleep_for(std::chrono::duration<double>(delay_seconds));
  if (bg.exited()) {
    outcome.finished_first = true;
  } else {
    bg.kill_hoist();
  }
  outcome.group_gone = bg.group_gone_within(5);
  return outcome;
}

}  // namespace crash_test
