#pragma once
// Running hoist in the background from tests: start it, kill it at a chosen moment, or wait
// for it while other hoist processes run (tests/builder/crash_test.cpp,
// tests/builder/concurrency_test.cpp).

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/builder/hoist_runner.h"

namespace crash_test {

// Makes this process the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER), so what a
// killed hoist leaves behind can be waited for and counted.
void become_subreaper();

// hoist ARGS with HOIST_ROOT=root, in a process group of its own (its id is the pid),
// stdin from /dev/null, stdout and stderr into files. Never throws.
class Background {
 public:
  Background(const std::string& root, const std::vector<std::string>& args,
             const std::vector<std::string>& env = {});
  ~Background();  // kills the group and waits when still running
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  // Whether it has exited (reaps it when so).
  bool exited();
  // Waits for it; exit code as hoist_test::RunResult has it, with the output.
  hoist_test::RunResult wait();
  // SIGKILL to hoist alone (not its group), then reaps it.
  void kill_hoist();
  // Waits up to `seconds` for every process of its group to be gone (reaping them);
  // false when some survive (they are then SIGKILLed).
  bool group_gone_within(double seconds);

 private:
  hoist_test::TempDir io_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

struct KillOutcome {
  bool finished_first = false;  // hoist exited before the kill came
  bool group_gone = true;       // nothing of it outlived it by more than a few seconds
};

// Starts hoist ARGS, SIGKILLs it after `delay_seconds` and waits for its whole group.
KillOutcome run_and_kill(const std::string& root, const std::vector<std::string>& args,
                         double delay_seconds);

}  // namespace crash_test
