#pragma once
// Docker's USER and --chown specs, resolved against an image's own /etc/passwd and
// /etc/group.
//
// A spec is "user[:group]", each part a name or a number:
//   "app"        the passwd entry named app: its uid and gid (for RUN, USER); for --chown
//                the gid is the uid's number, as Docker documents for COPY/ADD.
//   "1000"       uid 1000; the gid of passwd's entry for 1000 if there is one, else 0
//                (for --chown: 1000).
//   "app:staff", "app:50", "1000:50"
//                the group by name from /etc/group, or the number as given.
// Supplementary groups (only for Purpose::Run, and only without an explicit group): the
// primary gid plus every /etc/group entry listing the user's name as a member.
// A name that is not in the file fails with NotFound naming it and the file; a malformed
// spec ("", "a:b:c", "-1", a number above 4294967294) fails with InvalidInput.
//
// passwd and group are read inside the root: every path component, symlinks included, is
// resolved as if the root were "/" (openat2 RESOLVE_IN_ROOT), so a symlinked /etc/passwd
// pointing at the host's file reads the image's path instead. A missing file counts as
// empty; a non-regular file or one larger than kMaxAccountFileBytes fails with
// InvalidInput.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace runtime {

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> supplementary_gids;  // sorted, no duplicates
  std::string home;                          // from passwd; "/" when unknown
  bool operator==(const ResolvedUser&) const = default;
};

enum class UserPurpose { Run, Chown };

inline constexpr size_t kMaxAccountFileBytes = 16 << 20;

// Resolves `spec` against the given file contents (what resolve_user reads).
layers::Result<ResolvedUser> resolve_user_in(std::string_view spec, std::string_view passwd,
                                             std::string_view group, UserPurpose purpose);

// Resolves `spec` against `root_fd`'s etc/passwd and etc/group (see above).
layers::Result<ResolvedUser> resolve_user(int root_fd, std::string_view spec,
                                          UserPurpose purpose);

// Same, opening `root_dir` first.
layers::Result<ResolvedUser> resolve_user(const std::string& root_dir, std::string_view spec,
                                          UserPurpose purpose);

// Reads `rel_path` beneath `root_fd` with every component resolved inside the root.
// Missing file -> NotFound; other failures as described above.
layers::Result<std::string> read_file_in_root(int root_fd, const std::string& rel_path,
                                              size_t max_bytes);

}  // namespace runtime
