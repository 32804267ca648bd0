#pragma once
// The container's seccomp filter: Docker 20.10's default profile (moby profiles/seccomp/
// default.json) for the capability set the sandbox grants (kDefaultCapabilities), built with
// libseccomp. An allowlist: any system call not in it fails with EPERM. Among the denied:
// mount and the new mount API, umount, pivot_root, unshare, setns, clone with any
// namespace flag, keyctl/add_key/request_key, bpf, perf_event_open, userfaultfd,
// init_module/finit_module/delete_module, kexec, kcmp, pidfd_getfd, reboot, swapon, acct,
// syslog, open_by_handle_at, sethostname, settimeofday. clone3 fails with ENOSYS (so libc
// falls back to clone, whose flags the filter can read). ptrace is allowed on kernels >= 4.8
// as Docker 20.10 allows it (the kernel's own ptrace check and the PID namespace confine it
// to the container's own processes); process_vm_readv/writev and kcmp are refused, as they
// are there without CAP_SYS_PTRACE. socket is refused for
// AF_VSOCK, personality allowed only for Docker's five values.
// The i386 and x32 ABIs get the same rules by name, as Docker's arch map gives them.

#include "layers/error.h"

namespace runtime::sandbox {

// Installs the filter for the calling thread and whatever it execs. Needs no_new_privs.
layers::Result<void> install_seccomp_filter();

}  // namespace runtime::sandbox
