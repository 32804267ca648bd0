#include "tests/support/skip.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace hoist_test {

void record_skip(const std::string& why) {
  const std::string test = Catch::getResultCapture().getCurrentTestName();
  std::cout << "SKIPPED: " << test << ": " << why << std::endl;
  const char* log = std::getenv("HOIST_SKIP_LOG");
  if (!log || !*log) return;
  const std::string line = nlohmann::json{{"test", test},
                                          {"reason", why},
                                          {"executable", program_invocation_short_name}}
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                           "\n";
  // One write() of the whole line to an O_APPEND file: lines from test executables running
  // at the same time never interleave.
  int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  bool written = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) ::close(fd);
  // A skip nobody can count would read as a pass: fail the case instead.
  if (!written) FAIL("could not record the skip in $HOIST_SKIP_LOG=" << log << ": " << std::strerror(errno));
}

}  // namespace hoist_test
