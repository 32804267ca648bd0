#pragma once
// Where overlayfs keeps its bookkeeping (opaque directories, xwhiteouts, redirects): the
// trusted.overlay.* xattrs for a process in the initial user namespace, user.overlay.*
// inside any other (rootless hoist, runtime/rootless.h), where trusted.* needs a capability
// the namespace's root lacks and overlayfs is mounted with `userxattr` to read the same
// names. Every reader and writer of unpacked layers, upper dirs and copies asks here, so
// one process uses one form; a store is only ever used from one side (root's and a
// user's are different directories).

#include <string>
#include <string_view>

namespace layers {

// Whether this process is in the initial user namespace (/proc/self/uid_map maps every id
// to itself). Read once, at the first call: rootless hoist enters its namespace before
// anything asks (builder/cli/main.cpp).
bool in_initial_user_namespace();

// overlay_xattr("opaque") -> "trusted.overlay.opaque", or "user.overlay.opaque" rootless.
std::string overlay_xattr(std::string_view name);

// The xattrs a layer carries: user.* and security.capability, minus overlay's own
// bookkeeping when it lives in user.overlay.* (rootless).
bool is_layer_xattr(std::string_view name);

}  // namespace layers
