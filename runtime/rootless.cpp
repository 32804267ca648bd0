#include "runtime/rootless.h"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

#include "layers/blob_store.h"
#include "layers/overlay_xattr.h"
#include "layers/unique_fd.h"
#include "runtime/sandbox/cgroup.h"
#include "runtime/sandbox/process.h"
#include "runtime/sandbox/sandbox.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;
using layers::UniqueFd;

namespace {

constexpr size_t kMaxIdFileBytes = 1 << 20;

bool parse_u32(std::string_view text, uint32_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

struct IdFile {
  const char* path;    // /etc/subuid
  const char* helper;  // newuidmap
  uint32_t id;
  std::vector<IdRange> ranges;
};

// Runs in the helper child, which stays in the caller's namespaces: waits until the
// parent has unshared, then maps its ids. Exits 0 when both maps are written; the
// helpers' own messages go to `err_fd`.
[[noreturn]] void map_ids_of_parent(int go_fd, int err_fd, const std::vector<IdFile>& files,
                                    const std::vector<std::string>& helpers) {
  char byte;
  ssize_t n;
  do n = ::read(go_fd, &byte, 1); while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(1);  // the parent could not unshare: nothing to map
  const std::string pid = std::to_string(::getppid());
  for (size_t i = 0; i < files.size(); ++i) {
    std::vector<std::string> argv = {helpers[i], pid};
    for (auto& a : id_map_arguments(files[i].id, files[i].ranges)) argv.push_back(std::move(a));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t child = ::fork();
    if (child == 0) {
      ::dup2(err_fd, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
      ::_exit(2 + int(i));
  }
  ::_exit(0);
}

}  // namespace

std::vector<IdRange> subordinate_ranges(std::string_view file_text, std::string_view user_name,
                                        uint32_t id) {
  std::vector<IdRange> out;
  const std::string id_text = std::to_string(id);
  while (!file_text.empty()) {
    size_t nl = file_text.find('\n');
    std::string_view line = file_text.substr(0, nl);
    file_text = nl == std::string_view::npos ? std::string_view() : file_text.substr(nl + 1);
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view owner = line.substr(0, c1);
    if (owner != user_name && owner != id_text) continue;
    IdRange range;
    if (!parse_u32(line.substr(c1 + 1, c2 - c1 - 1), &range.start) ||
        !parse_u32(line.substr(c2 + 1), &range.count) || range.count == 0)
      continue;
    out.push_back(range);
  }
  return out;
}

std::vector<std::string> id_map_arguments(uint32_t id, const std::vector<IdRange>& ranges) {
  std::vector<std::string> args = {"0", std::to_string(id), "1"};
  uint64_t next = 1;
  for (const IdRange& r : ranges) {
    if (next + r.count > UINT32_MAX) break;
    for (uint64_t v : {next, uint64_t(r.start), uint64_t(r.count)}) args.push_back(std::to_string(v));
    next += r.count;
  }
  return args;
}

Result<void> enter_rootless_namespace() {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  std::string user_name;
  if (struct passwd* pw = ::getpwuid(uid)) user_name = pw->pw_name;
  const std::string shown_user =
      (user_name.empty() ? "uid " + std::to_string(uid) : user_name + " (uid " + std::to_string(uid) + ")");
  const std::string usermod_name = user_name.empty() ? std::to_string(uid) : user_name;

  std::vector<IdFile> files = {{"/etc/subuid", "newuidmap", uint32_t(uid), {}},
                               {"/etc/subgid", "newgidmap", uint32_t(gid), {}}};
  std::vector<std::string> helpers;
  for (IdFile& f : files) {
    auto helper = sandbox::find_host_program(f.helper);
    if (!helper)
      return Error(ErrorKind::Unsupported,
                   std::string(f.helper) + " is not installed (not found in $PATH): install the "
                   "uidmap package (apt-get install uidmap)");
    helpers.push_back(*helper);
    auto text = layers::read_file(f.path, kMaxIdFileBytes);
    if (!text && text.error().kind() != ErrorKind::NotFound) return std::move(text).error();
    if (text) f.ranges = subordinate_ranges(*text, user_name, f.id);
    if (f.ranges.empty())
      return Error(ErrorKind::Unsupported,
                   "user " + shown_user + " has no subordinate id range in " + f.path +
                       ": as root, give it one, e.g. usermod --add-subuids 100000-165535 "
                       "--add-subgids 100000-165535 " + usermod_name);
  }

  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return Error::from_errno("pipe for newuidmap");
  UniqueFd go_read(go[0]), go_write(go[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Error::from_errno("pipe for newuidmap");
  UniqueFd err_read(err[0]), err_write(err[1]);
  pid_t helper = ::fork();
  if (helper < 0) return Error::from_errno("fork for newuidmap");
  if (helper == 0) {
    go_write.reset();
    map_ids_of_parent(go_read.get(), err_write.get(), files, helpers);
  }
  go_read.reset();
  err_write.reset();
  auto reap = [&] {
    int status = 0;
    while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  };

  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    const int e = errno;
    go_write.reset();
    reap();
    return Error(ErrorKind::Unsupported,
                 "creating a user namespace for rootless hoist: " + std::string(std::strerror(e)) +
                     " (are unprivileged user namespaces disabled? see sysctl "
                     "user.max_user_namespaces, kernel.unprivileged_userns_clone and "
                     "kernel.apparmor_restrict_unprivileged_userns; in a chroot the kernel refuses "
                     "them to everyone)");
  }
  const char byte = 1;
  if (::write(go_write.get(), &byte, 1) != 1) {
    const int e = errno;
    go_write.reset();
    reap();
    return Error::from_errno(e, "starting newuidmap");
  }
  go_write.reset();
  std::string messages = sandbox::read_helper_messages(err_read.get());
  for (char& c : messages)
    if (c == '\n') c = ' ';
  const int status = reap();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int which = WIFEXITED(status) ? WEXITSTATUS(status) - 2 : 0;
    const IdFile& f = files[which == 1 ? 1 : 0];
    return Error(ErrorKind::Io,
                 std::string("mapping ids for rootless hoist: ") + f.helper + " failed" +
                     (messages.empty() ? "" : ": " + messages) + " (check " + f.path + " for " +
                     shown_user + ", and that " + helpers[which == 1 ? 1 : 0] +
                     " is set-uid root or has the setuid capability)");
  }
  // The maps are written: this process is now root in its namespace (its ids read as 0).
  if (::geteuid() != 0)
    return Error(ErrorKind::Io,
                 "rootless hoist: uid " + std::to_string(uid) + " is not mapped to 0 after newuidmap");
  return {};
}

std::string describe_rootless() {
  if (layers::in_initial_user_namespace()) return "";
  std::string maps;
  auto text = layers::read_file("/proc/self/uid_map", kMaxIdFileBytes);
  std::istringstream in(text ? *text : std::string());
  for (uint64_t inside, outside, count; in >> inside >> outside >> count;) {
    if (!maps.empty()) maps += ", ";
    auto span = [count](uint64_t first) {
      return count == 1 ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(first + count - 1);
    };
    maps += span(inside) + (count == 1 ? " is uid " : " are ") + span(outside);
  }
  std::string line = "rootless: user namespace (uid " + maps + ")";
  auto cgroup = sandbox::PidsCgroup::create(sandbox::kDefaultPidsLimit);
  if (!cgroup) line += "; no pids limit for RUN (" + cgroup.error().describe() + ")";
  return line;
}

}  // namespace runtime
