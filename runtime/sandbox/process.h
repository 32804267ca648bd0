#pragma once
// The container's process: how it reports back before exec, its stdio, its privileges,
// and the exec itself.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace runtime::sandbox {

// The child tells the parent what went wrong before exec through a close-on-exec pipe:
// EOF without an error record means the command was started. Records are single
// writes of one line each, so they never interleave.
void report_error(int report_fd, const layers::Error& error);
// A mount point created in the root (rootfs mode), to remove after the run.
void report_stub(int report_fd, const std::string& rel_path);

struct ChildReport {
  std::optional<layers::Error> error;
  std::vector<std::string> stubs;
};
// Reads every record until EOF (call once all writers are gone).
ChildReport read_child_report(int report_fd);

// Unblocks every signal and restores default dispositions, so the command starts as
// from a fresh login.
void reset_signal_state();

// Duplicates the given fds onto 0, 1 and 2 (stdin_fd -1: /dev/null of the current root).
layers::Result<void> install_stdio(int stdin_fd, int stdout_fd, int stderr_fd);

// Creates `cwd` and its missing parents (root-owned, 0755), as Docker does for WORKDIR.
layers::Result<void> make_cwd(const std::string& cwd);

struct Credentials {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
};
// Limits the bounding set to `capabilities` (a CapEff mask; where CAP_SETPCAP allows),
// switches to the user's ids (which empties the capability sets for a non-root user), sets
// root's sets to those of `capabilities` this process holds, clears ambient capabilities
// and sets no_new_privs. `privileged` (RUN --security=insecure): root keeps every
// capability this process holds, the bounding set stays whole and no_new_privs unset.
layers::Result<void> drop_privileges(const Credentials& user, uint64_t capabilities,
                                     bool privileged);

// The host program `name` as an executable path found in this process's PATH (Docker's
// default PATH when unset), for helpers hoist runs itself (slirp4netns, newuidmap).
std::optional<std::string> find_host_program(std::string_view name);
// What a helper wrote to a pipe until it closed (the first 4 KiB), trailing blanks removed.
std::string read_helper_messages(int fd);

// execve with a PATH lookup in `env` (Docker's default PATH when it has none). Returns
// only on failure: NotFound when no candidate exists, else the last exec error.
layers::Error exec_command(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env);

}  // namespace runtime::sandbox
