// A static probe for tests/runtime/hardening_test.cpp: each subcommand tries one thing a
// container must not be able to do (or must be able to do, as under Docker) and prints
// "ok" or the errno's name. Built with `cc -static` by the test and copied into the image.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case ESRCH: return "ESRCH";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case EFAULT: return "EFAULT";
    default: return strerror(err);
  }
}

static int report(long rc) {
  if (rc < 0) {
    printf("%s\n", name(errno));
    return 1;
  }
  printf("ok\n");
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* what = argv[1];
  if (!strcmp(what, "mknod-block")) {  // mknod-block PATH: the host's first disk, sda (8:0)
    if (mknod(argv[2], S_IFBLK | 0600, makedev(8, 0)) != 0) return report(-1);
    return report(open(argv[2], O_RDONLY));
  }
  if (!strcmp(what, "open")) return report(open(argv[2], O_RDONLY));
  if (!strcmp(what, "finit_module")) return report(syscall(SYS_finit_module, -1, "", 0));
  if (!strcmp(what, "init_module")) return report(syscall(SYS_init_module, NULL, 0, ""));
  if (!strcmp(what, "unshare-user")) return report(unshare(CLONE_NEWUSER));
  if (!strcmp(what, "unshare-net")) return report(unshare(CLONE_NEWNET));
  if (!strcmp(what, "clone-newuser")) {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return report(pid);
  }
  if (!strcmp(what, "clone3")) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return report(pid);
  }
  if (!strcmp(what, "kcmp")) return report(syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0, 0));
  if (!strcmp(what, "mount")) return report(mount("none", "/tmp", "tmpfs", 0, NULL));
  if (!strcmp(what, "sethostname")) return report(sethostname("pwned", 5));
  if (!strcmp(what, "keyctl")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -1, 0));
  if (!strcmp(what, "bpf")) return report(syscall(SYS_bpf, 0, NULL, 0));
  if (!strcmp(what, "userfaultfd")) return report(syscall(SYS_userfaultfd, 0));
  if (!strcmp(what, "perf_event_open")) return report(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  if (!strcmp(what, "ptrace")) {  // ptrace PID: attach
    return report(ptrace(PTRACE_ATTACH, (pid_t)atol(argv[2]), 0, 0));
  }
  if (!strcmp(what, "process_vm_readv")) {  // process_vm_readv PID: read one byte of its stack
    char byte = 0, here = 1;
    struct iovec local = {&byte, 1}, remote = {&here, 1};
    pid_t pid = (pid_t)atol(argv[2]);
    if (pid == 0) pid = getpid();
    return report(syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0));
  }
  if (!strcmp(what, "euid")) {
    printf("euid=%d\n", (int)geteuid());
    return 0;
  }
  if (!strcmp(what, "forkbomb")) {  // forks until refused; children sleep, then all die
    int n = 0;
    for (; n < 100000; ++n) {
      pid_t pid = fork();
      if (pid == 0) {
        sleep(30);
        _exit(0);
      }
      if (pid < 0) break;
    }
    printf("forked=%d %s\n", n, name(errno));
    return 0;  // as PID 1, our exit takes every child with it
  }
  fprintf(stderr, "probe: unknown %s\n", what);
  return 2;
}
