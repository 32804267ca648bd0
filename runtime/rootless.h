#pragma once
// Rootless hoist: a non-root user's hoist runs in a user namespace of its own, as podman
// and buildah do. Container (namespace) id 0 is the user's own uid (gid), ids 1..N are the
// user's subordinate ranges from /etc/subuid and /etc/subgid, mapped by the set-uid helpers
// newuidmap and newgidmap (Debian's `uidmap` package). Inside it hoist is root: it owns the
// store's files whatever subordinate id they carry, unpacks layers with their owners, and
// the RUN sandbox makes its namespaces and mounts (overlayfs with `userxattr`, see
// layers/overlay_xattr.h) as it does for root.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace runtime {

// One subordinate id range: `count` ids from `start`.
struct IdRange {
  uint32_t start = 0, count = 0;
};

// The ranges /etc/subuid (or /etc/subgid) text gives the user: lines "NAME:START:COUNT"
// whose first field is `user_name` or the decimal `id`, in file order. Malformed lines,
// comments and ranges of zero ids are skipped, as shadow's tools do.
std::vector<IdRange> subordinate_ranges(std::string_view file_text, std::string_view user_name,
                                        uint32_t id);

// The newuidmap/newgidmap arguments after the pid: "0 ID 1", then each range at the next
// free namespace id ("1 START COUNT", ...).
std::vector<std::string> id_map_arguments(uint32_t id, const std::vector<IdRange>& ranges);

// Unshares a user namespace and a mount namespace, has newuidmap and newgidmap map them as
// above, and leaves this process root in them (full capabilities over what the namespace
// owns). Call it single-threaded, before the store is opened. Errors name what is missing
// and how to fix it: Unsupported, with this process unchanged, for the uidmap package, the
// user's subordinate ranges (usermod --add-subuids/--add-subgids), or user namespaces
// (disabled by the kernel's settings); Io when the maps could not be written after the
// namespace was made (the process is then in a namespace without ids: it must stop).
layers::Result<void> enter_rootless_namespace();

// For a build's progress, once: "" for root in the initial user namespace, else one line
// saying what rootless mode means here, e.g. "rootless: user namespace (uid 0 is uid
// 1001, 1-65536 are 100000-165535); no pids limit for RUN (no pids cgroup: REASON)".
std::string describe_rootless();

}  // namespace runtime
