#include "runtime/sandbox/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <vector>

namespace runtime::sandbox {

namespace {

#if defined(__x86_64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_X86_64;
constexpr uint32_t kX32Bit = 0x40000000;
#elif defined(__aarch64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
constexpr uint32_t kX32Bit = 0;
#else
#error "hoist's seccomp filter knows x86_64 and aarch64"
#endif

constexpr long kDenied[] = {
    SYS_add_key,       SYS_keyctl,        SYS_request_key,   SYS_init_module,
    SYS_finit_module,  SYS_delete_module, SYS_kexec_load,    SYS_kexec_file_load,
    SYS_reboot,        SYS_swapon,        SYS_swapoff,       SYS_acct,
    SYS_bpf,           SYS_perf_event_open, SYS_userfaultfd, SYS_open_by_handle_at,
    SYS_quotactl,      SYS_syslog,        SYS_fsopen,        SYS_fsmount,
    SYS_fspick,        SYS_move_mount,    SYS_open_tree,     SYS_mount_setattr,
    SYS_pivot_root,    SYS_setns,         SYS_unshare,
};

}  // namespace

layers::Result<void> install_seccomp_filter() {
  const uint32_t deny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  std::vector<sock_filter> prog = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, deny),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
  };
  if (kX32Bit != 0) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, deny));
  }
  for (long nr : kDenied) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(nr), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, deny));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));

  struct sock_fprog fprog {};
  fprog.len = static_cast<unsigned short>(prog.size());
  fprog.filter = prog.data();
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0)
    return layers::Error::from_errno("installing the seccomp filter");
  return {};
}

}  // namespace runtime::sandbox
