#pragma once
// A small seccomp filter: the container may make every system call except a short list of
// ones that reach outside it (kernel keyrings, modules, kexec, BPF, perf, userfaultfd,
// open_by_handle_at, ...), which fail with EPERM as under Docker. Most of these already
// need capabilities the container lacks; the filter is a second wall.
// System calls through a foreign ABI (i386 or x32 on x86_64) fail with EPERM: the list is
// written in native numbers, so those ABIs would otherwise walk around it.

#include "layers/error.h"

namespace runtime::sandbox {

// Installs the filter for the calling thread and whatever it execs. Needs no_new_privs.
layers::Result<void> install_seccomp_filter();

}  // namespace runtime::sandbox
