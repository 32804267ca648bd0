#include "runtime/sandbox/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "runtime/sandbox/sandbox.h"
#include "layers/unique_fd.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;

namespace {

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

void report_error(int report_fd, const Error& error) {
  write_all(report_fd, "E " + std::to_string(int(error.kind())) + " " +
                           std::to_string(error.sys_errno()) + " " + one_line(error.message()) +
                           "\n");
}

void report_stub(int report_fd, const std::string& rel_path) {
  write_all(report_fd, "S " + one_line(rel_path) + "\n");
}

ChildReport read_child_report(int report_fd) {
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(report_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  ChildReport report;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.starts_with("S ")) {
      report.stubs.emplace_back(line.substr(2));
    } else if (line.starts_with("E ") && !report.error) {
      int kind = 0, err = 0, used = 0;
      std::string copy(line.substr(2));
      if (std::sscanf(copy.c_str(), "%d %d %n", &kind, &err, &used) >= 2 && kind >= 0 &&
          kind <= int(ErrorKind::Cancelled)) {
        report.error = Error(ErrorKind(kind), copy.substr(size_t(used)), err);
      } else {
        report.error = Error(ErrorKind::Io, "unreadable report from the sandbox: " + copy);
      }
    }
  }
  return report;
}

void reset_signal_state() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

Result<void> install_stdio(int stdin_fd, int stdout_fd, int stderr_fd) {
  // Move the sources out of 0..2 first, so e.g. stdout_fd == 2 is not overwritten before
  // it is used.
  int sources[3] = {stdin_fd, stdout_fd, stderr_fd};
  layers::UniqueFd moved[3];
  for (int i = 0; i < 3; ++i) {
    int fd = sources[i];
    if (i == 0 && fd < 0) {
      moved[0].reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!moved[0]) return Error::from_errno("opening /dev/null for stdin");
      continue;
    }
    moved[i].reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!moved[i]) return Error::from_errno("duplicating fd " + std::to_string(fd));
  }
  for (int i = 0; i < 3; ++i) {
    if (::dup2(moved[i].get(), i) < 0)
      return Error::from_errno("installing fd " + std::to_string(i));
  }
  return {};
}

Result<void> make_cwd(const std::string& cwd) {
  if (cwd.empty() || cwd[0] != '/')
    return Error(ErrorKind::InvalidInput, "working directory " + quoted(cwd) + " is not absolute");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = cwd.find('/', pos + 1);
    const std::string prefix = cwd.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/') continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return Error::from_errno("creating working directory " + quoted(prefix));
  }
  return {};
}

Result<void> drop_privileges(const Credentials& user, uint64_t capabilities, bool privileged) {
  // Everything this process holds, for a privileged step: the mask of every capability.
  const uint64_t granted = privileged ? ~uint64_t(0) : capabilities;
  // The bounding set first: dropping from it needs CAP_SETPCAP (held here even when
  // `capabilities` lacks it, as it is dropped last, with the bounding set), and it caps what any later exec (setuid binaries included) can gain.
  // Where this process lacks CAP_SETPCAP (an unprivileged container, chroot_only), the
  // bounding set stays as it is: with no_new_privs set below, no exec can gain anything
  // beyond the permitted set anyway.
  for (int cap = 0; cap < 64; ++cap) {
    if (granted & (uint64_t(1) << cap)) continue;
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;  // not there (or no such cap)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM)
      return Error::from_errno("dropping capability " + std::to_string(cap));
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return Error::from_errno("clearing ambient capabilities");

  std::vector<gid_t> groups(user.groups.begin(), user.groups.end());
  if (::setgroups(groups.size(), groups.data()) != 0)
    return Error::from_errno("setgroups for uid " + std::to_string(user.uid));
  if (::setresgid(user.gid, user.gid, user.gid) != 0)
    return Error::from_errno("setgid " + std::to_string(user.gid));
  // For a non-root uid this also clears the permitted and effective sets (no KEEP_CAPS),
  // which is what Docker gives such a user.
  if (::setresuid(user.uid, user.uid, user.uid) != 0)
    return Error::from_errno("setuid " + std::to_string(user.uid));

  if (user.uid == 0) {
    struct __user_cap_header_struct header {};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    struct __user_cap_data_struct data[2] {};
    // The granted set, less what this process does not hold (a container started with
    // fewer capabilities, e.g. a Kubernetes pod without NET_RAW): those cannot be granted.
    struct __user_cap_data_struct held[2] {};
    if (::syscall(SYS_capget, &header, held) != 0) return Error::from_errno("capget");
    for (int i = 0; i < 2; ++i) {
      data[i].effective = data[i].permitted =
          uint32_t(granted >> (32 * i)) & held[i].permitted;
      data[i].inheritable = 0;  // as Docker since 20.10.14
    }
    if (::syscall(SYS_capset, &header, data) != 0) return Error::from_errno("capset");
  }
  if (privileged) return {};  // as `docker run --privileged`: execs may gain privileges
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Error::from_errno("setting no_new_privs");
  return {};
}

namespace {

// The directories of a PATH value, in order; an empty entry is the current directory.
std::vector<std::string> path_dirs(const std::string& path) {
  std::vector<std::string> dirs;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    dirs.push_back(dir.empty() ? "." : dir);
    start = end + 1;
  }
  return dirs;
}

}  // namespace

std::optional<std::string> find_host_program(std::string_view name) {
  const char* env_path = std::getenv("PATH");
  for (const std::string& dir : path_dirs(env_path && *env_path ? env_path : std::string(kDefaultPath))) {
    if (dir == ".") continue;
    std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string read_helper_messages(int fd) {
  std::string out;
  char buf[1024];
  while (out.size() < 4096) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Error exec_command(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (argv.empty() || argv[0].empty()) return Error(ErrorKind::InvalidInput, "empty command");
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string path(kDefaultPath);
  for (const auto& e : env) {
    envp.push_back(const_cast<char*>(e.c_str()));
    if (e.starts_with("PATH=")) path = e.substr(5);
  }
  envp.push_back(nullptr);

  const std::string& name = argv[0];
  if (name.find('/') != std::string::npos) {
    ::execve(name.c_str(), args.data(), envp.data());
    return Error::from_errno("executing " + quoted(name));
  }
  int last_errno = ENOENT;
  for (const std::string& dir : path_dirs(path)) {
    const std::string candidate = dir + "/" + name;
    ::execve(candidate.c_str(), args.data(), envp.data());
    // Like execvp: keep looking past directories that lack it, remember a real refusal.
    if (errno != ENOENT && errno != ENOTDIR) last_errno = errno;
  }
  if (last_errno == ENOENT) {
    return Error(ErrorKind::NotFound,
                 "executing " + quoted(name) + ": not found in $PATH (" + path + ")");
  }
  return Error::from_errno(last_errno, "executing " + quoted(name));
}

}  // namespace runtime::sandbox
