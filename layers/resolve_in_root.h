#pragma once
// Opens a path inside a directory tree as a process chrooted into it would see it, for
// unpacking layers the way docker does (it unpacks inside a chroot):
//  - symlinks in the path are followed, and an absolute symlink's target starts at the
//    root, not at the host's "/" (Debian's var/run -> /run leads to ROOT/run);
//  - ".." never climbs above the root: a path or symlink that would is refused with EXDEV
//    (a chroot would quietly stay at the root; a layer that relies on it is hostile);
//  - no magic links (/proc/self/fd/...) are followed.
// The kernel resolves the common case in one openat2(RESOLVE_BENEATH) call; when that
// stops at an absolute symlink, the path is walked one component at a time with
// O_NOFOLLOW, each symlink read and resolved by us, so no step ever leaves the root.
//
// Without openat2 (ENOSYS before Linux 5.6, EPERM or ENOSYS from a seccomp filter; asked
// once per process) every function here takes that walk, with the same results: the same
// descriptors for paths that stay inside, the same errno (EXDEV, ELOOP, ENOENT) for those
// that do not. The walk never lets the kernel follow a symlink; a symlink on procfs (where
// magic links live) fails with ELOOP, as RESOLVE_NO_MAGICLINKS does.

#include <cstdint>
#include <string>

namespace layers {

// Opens `rel` (relative, "" for the root itself) beneath `root_fd` with open(2) `flags`
// (O_CLOEXEC is added). With O_NOFOLLOW in `flags` the final component is not followed
// (a symlink there is opened itself with O_PATH, or fails as open(2) would); without it,
// the final component is followed too. Returns the descriptor, or -1 with errno set:
// EXDEV for a resolution that would leave the root, ELOOP after 40 symlinks, and what
// openat(2) says otherwise.
int open_in_root(int root_fd, const std::string& rel, uint64_t flags);

// The component-wise walk alone, as open_in_root takes it where openat2 is missing; for
// tests that must cover that path on kernels that have openat2.
int open_in_root_by_walk(int root_fd, const std::string& rel, uint64_t flags);

// As open_in_root, but a ".." at the root stays at the root, as it does for a chrooted
// process and in BuildKit's COPY (continuity's fs.RootPath): `up -> ../../x` is ROOT/x.
// Nothing outside the root is reached either way; the kernel resolves it in one
// openat2(RESOLVE_IN_ROOT) call. For build contexts, where BuildKit clamps; layers use
// open_in_root, which refuses such an entry as hostile.
// `rel` may be absolute (it starts at the root).
int open_in_root_clamped(int root_fd, const std::string& rel, uint64_t flags);

// Opens `rel` beneath `root_fd` only if no component of it is a symlink (ELOOP
// otherwise) and none climbs out (EXDEV): for trees hoist is writing, where a symlink it
// wrote earlier must never redirect a later write (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS).
// An absolute `rel` is EXDEV. With O_PATH | O_NOFOLLOW a symlink as the final component is
// opened itself.
int open_beneath_no_symlinks(int root_fd, const std::string& rel, uint64_t flags);

// For tests: `true` makes every function here take the walk, as where openat2 is missing
// (the seccomp wrapper tests/support/without_openat2 shows the same for the hoist binary);
// `false` goes back to openat2 where the kernel has it. Process-wide.
void force_walk_for_testing(bool forced);
// Whether calls take the walk now (openat2 missing, or forced).
bool takes_walk();

}  // namespace layers
