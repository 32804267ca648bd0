#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/executor.h"
#include "runtime/sandbox/sandbox.h"
#include "layers/overlay_diff.h"
#include "layers/unique_fd.h"
#include "tests/runtime/sandbox_fixture.h"

using namespace sandbox_fixture;

namespace {

constexpr auto Add = DiffEntry::Kind::AddOrChange;
constexpr auto Del = DiffEntry::Kind::Delete;
constexpr auto Opq = DiffEntry::Kind::Opaque;
using Diff = std::vector<std::pair<std::string, DiffEntry::Kind>>;

}  // namespace

TEST_CASE("sandbox: stdout and stderr reach the caller", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto ran = run_ok(c.spec("echo hello; echo oops >&2"));
  CHECK(*ran.status == 0);
  CHECK(ran.out == "hello\n");
  CHECK(ran.err == "oops\n");
}

TEST_CASE("sandbox: stdout can be a plain fd", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const std::string log = c.dir + "/log";
  layers::UniqueFd fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  REQUIRE(fd);
  auto spec = c.spec("echo to-the-file");
  spec.stdout_fd = fd.get();
  auto status = runtime::sandbox::run(spec);
  REQUIRE(status);
  CHECK(read_file(log) == "to-the-file\n");
}

TEST_CASE("sandbox: the exit status is the command's", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto [script, code] = GENERATE(table<std::string, int>({
      {"exit 0", 0},
      {"exit 7", 7},
      {"false", 1},
      {"no-such-command", 127},
      {"sh -c 'kill -KILL $$'; exit $?", 137},
  }));
  CAPTURE(script);
  Container c;
  auto ran = run_ok(c.spec(script));
  CHECK(*ran.status == code);
}

TEST_CASE("sandbox: a command that cannot be executed is an error naming it",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto spec = c.spec("");
  spec.argv = {"/bin/nonexistent", "x"};
  auto ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK(ran.status.error().kind() == layers::ErrorKind::NotFound);
  CHECK_THAT(ran.status.error().message(), Catch::Contains("\"/bin/nonexistent\""));

  spec.argv = {"nonexistent"};
  ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK_THAT(ran.status.error().message(), Catch::Contains("not found in $PATH (/bin)"));
}

TEST_CASE("sandbox: env and working directory", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto spec = c.spec("echo \"$FOO|$(pwd)|$HOME\"; env | wc -l");
  spec.env = {"PATH=/bin", "FOO=bar baz"};
  spec.cwd = "/work/dir";
  auto ran = run_ok(spec);
  CHECK(*ran.status == 0);
  // The given environment plus HOME from passwd (sh adds PWD and SHLVL of its own).
  CHECK(ran.out.substr(0, ran.out.find('\n') + 1) == "bar baz|/work/dir|/root\n");
  // A missing WORKDIR is created, as Docker does, and so belongs to the layer.
  CHECK(c.diff() == Diff{{"work", Add}, {"work/dir", Add}});
}

TEST_CASE("sandbox: HOME comes from the user's passwd entry unless env sets one",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  // As runc 1.1.5 sets it for `docker run` and RUN (checked against Docker 20.10.24): the
  // passwd home, "/" without an entry, a non-empty HOME in env kept, an empty one filled in.
  auto [user, uid, env, expected] = GENERATE(table<std::string, uint32_t, std::vector<std::string>, std::string>({
      {"", 0, {}, "/root|1"},
      {"app", 0, {}, "/home/app|1"},
      {"1000", 0, {}, "/home/app|1"},
      {"4242:7", 0, {}, "/|1"},
      {"", 1000, {}, "/home/app|1"},
      {"", 4242, {}, "/|1"},
      {"app", 0, {"HOME=/mine"}, "/mine|1"},
      {"app", 0, {"HOME="}, "/home/app|1"},
      {"", 0, {"A=1", "HOME=", "B=2"}, "/root|1"},
  }));
  CAPTURE(user, uid, env);
  Container c;
  auto spec = c.spec("echo \"$HOME|$(env | grep -c ^HOME=)\"");
  spec.user = user;
  spec.uid = uid;
  spec.env = env;
  auto ran = run_captured(spec);
  INFO(describe(ran));
  REQUIRE(ran.status);
  CHECK(ran.out == expected + "\n");
}

TEST_CASE("sandbox: USER by number or name", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto [user, expected] = GENERATE(table<std::string, std::string>({
      {"", "0 0 0"},
      {"0", "0 0 0"},
      {"1000", "1000 1000 1000 50"},
      {"app", "1000 1000 1000 50"},
      {"app:staff", "1000 50 50"},
      {"4242:7", "4242 7 7"},
  }));
  CAPTURE(user);
  Container c;
  auto spec = c.spec("echo $(id -u) $(id -g) $(id -G)");
  spec.user = user;
  auto ran = run_ok(spec);
  CHECK(ran.out == expected + "\n");
}

TEST_CASE("sandbox: an unknown USER fails the setup", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const auto before = mounts_mentioning(c.dir);
  auto spec = c.spec("true");
  spec.user = "nobody";
  auto ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK(ran.status.error().kind() == layers::ErrorKind::NotFound);
  CHECK_THAT(ran.status.error().message(), Catch::Contains("unable to find user \"nobody\""));
  CHECK(mounts_mentioning(c.dir) == before);
}

TEST_CASE("sandbox: numeric uid/gid fields apply without USER", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto spec = c.spec("echo $(id -u) $(id -g) $(id -G)");
  spec.uid = 33;
  spec.gid = 44;
  spec.supplementary_gids = {44, 55};
  auto ran = run_ok(spec);
  CHECK(ran.out == "33 44 44 55\n");
}

TEST_CASE("sandbox: changes land in the upper dir as OCI changes", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto ran = run_ok(c.spec("echo new > /newfile && rm /etc/motd && rm -rf /data && mkdir /data && "
                        "echo fresh > /data/fresh"));
  REQUIRE(*ran.status == 0);
  CHECK(c.diff() == Diff{{"data", Add},
                         {"data", Opq},
                         {"data/fresh", Add},
                         {"etc", Add},
                         {"etc/motd", Del},
                         {"newfile", Add}});
  CHECK(read_file(c.upper + "/newfile") == "new\n");
  // The image's layer is untouched.
  CHECK_FALSE(fs::exists(c.lower + "/newfile"));
  CHECK(fs::exists(c.lower + "/etc/motd"));
  CHECK(fs::exists(c.lower + "/data/old"));
}

TEST_CASE("sandbox: the sandbox's own mount points stay out of the layer",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto image_has_etc_files = GENERATE(false, true);
  CAPTURE(image_has_etc_files);
  Container c;
  if (image_has_etc_files) {
    write_file(c.lower + "/etc/hosts", "10.0.0.1 image-host\n");
    fs::create_symlink("/outside/resolv.conf", c.lower + "/etc/resolv.conf");
    fs::create_directories(c.lower + "/proc");
    fs::create_directories(c.lower + "/dev");
  }
  auto spec = c.spec("cat /etc/hosts /etc/resolv.conf /etc/hostname; ls /dev/null /proc/self");
  spec.hostname = "buildbox";
  spec.resolv_conf_content = "nameserver 10.9.9.9\n";
  auto ran = run_ok(spec);
  CHECK(*ran.status == 0);
  CHECK_THAT(ran.out, Catch::Contains("localhost buildbox"));
  CHECK_THAT(ran.out, Catch::Contains("nameserver 10.9.9.9"));
  CHECK_THAT(ran.out, Catch::Contains("buildbox\n"));
  CHECK(c.diff().empty());
}

TEST_CASE("sandbox: writes to /etc/hosts go to the generated file", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto ran = run_ok(c.spec("echo 1.2.3.4 extra >> /etc/hosts && grep -c extra /etc/hosts"));
  CHECK(ran.out == "1\n");
  CHECK(c.diff().empty());
}

TEST_CASE("sandbox: PID, UTS and network namespaces", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto [script, network, expected] =
      GENERATE(table<std::string, runtime::sandbox::Network, std::string>({
          {"echo $$", runtime::sandbox::Network::Host, "1\n"},
          {"hostname", runtime::sandbox::Network::Host, "buildbox\n"},
          {"grep -c : /proc/net/dev", runtime::sandbox::Network::None, "1\n"},
          {"grep -o 'lo:' /proc/net/dev", runtime::sandbox::Network::None, "lo:\n"},
      }));
  CAPTURE(script);
  Container c;
  auto spec = c.spec(script);
  spec.hostname = "buildbox";
  spec.network = network;
  auto ran = run_ok(spec);
  CHECK(ran.out == expected);
}

TEST_CASE("sandbox: host network sees the host's interfaces", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto spec = c.spec("cat /proc/net/dev");
  spec.network = runtime::sandbox::Network::Host;
  auto ran = run_captured(spec);
  REQUIRE(ran.status);
  CHECK(ran.out == read_file("/proc/net/dev"));
}

TEST_CASE("sandbox: no mounts are left behind", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto script = GENERATE(as<std::string>{}, "true", "exit 3", "sleep 60 & echo started");
  CAPTURE(script);
  Container c;
  const auto before = mounts_mentioning(c.dir);
  auto ran = run_captured(c.spec(script));
  REQUIRE(ran.status);
  CHECK(mounts_mentioning(c.dir) == before);
  // The merged root and the private temp dir are gone too.
  for (const auto& entry : fs::directory_iterator(c.dir)) {
    CHECK(entry.path().filename().string().rfind("hoist-run-", 0) == std::string::npos);
  }
}

TEST_CASE("sandbox: bind mounts, read-only and writable", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const std::string host = c.dir + "/host";
  write_file(host + "/in", "from host\n");
  auto spec = c.spec(
      "cat /mnt/ro/in; touch /mnt/ro/x 2>/dev/null && echo ro-writable; "
      "echo out > /mnt/rw/out");
  spec.binds = {{host, "/mnt/ro", true}, {host, "/mnt/rw", false}};
  auto ran = run_ok(spec);
  CHECK(ran.out == "from host\n");
  CHECK_FALSE(fs::exists(host + "/x"));
  CHECK(read_file(host + "/out") == "out\n");
}

TEST_CASE("sandbox: a bind target cannot escape through a symlink", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const std::string host = c.dir + "/host";
  write_file(host + "/in", "x\n");
  // Absolute, so resolving it with the host's root would land in the host's /tmp.
  fs::create_symlink("/tmp", c.lower + "/escape");
  const std::string name = fs::path(c.dir).filename().string() + "-target";
  auto spec = c.spec("cat /escape/" + name + "/in");
  spec.binds = {{host, "/escape/" + name, true}};
  auto ran = run_ok(spec);
  CHECK(ran.out == "x\n");
  CHECK_FALSE(fs::exists("/tmp/" + name));
  CHECK(fs::is_directory(c.upper + "/tmp/" + name));
}

TEST_CASE("sandbox: a bind target under a dangling symlink is refused, not created outside",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const std::string outside = c.dir + "/outside";
  fs::create_symlink(outside, c.lower + "/dangling");
  auto spec = c.spec("true");
  spec.binds = {{c.dir, "/dangling/target", true}};
  auto ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK_THAT(ran.status.error().message(), Catch::Contains("\"/dangling/target\""));
  CHECK_FALSE(fs::exists(outside));
}

TEST_CASE("sandbox: capabilities, no_new_privs and seccomp", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto [user, cap_eff] = GENERATE(table<std::string, std::string>({
      {"0", "00000000a80425fb"},
      {"app", "0000000000000000"},
  }));
  CAPTURE(user);
  Container c;
  auto spec = c.spec("grep -E '^(CapEff|CapBnd|CapInh|NoNewPrivs|Seccomp):' /proc/self/status");
  spec.user = user;
  auto ran = run_ok(spec);
  CHECK_THAT(ran.out, Catch::Contains("CapInh:\t0000000000000000\n"));
  CHECK_THAT(ran.out, Catch::Contains("CapEff:\t" + cap_eff + "\n"));
  CHECK_THAT(ran.out, Catch::Contains("CapBnd:\t00000000a80425fb\n"));
  CHECK_THAT(ran.out, Catch::Contains("NoNewPrivs:\t1\n"));
  CHECK_THAT(ran.out, Catch::Contains("Seccomp:\t2\n"));
}

TEST_CASE("sandbox: the container cannot mount or reach host /proc files",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto ran = run_ok(c.spec("mount -t tmpfs x /tmp 2>/dev/null && echo mounted; "
                        "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo wrote-sys; "
                        "cat /proc/keys /proc/timer_list | wc -c"));
  CHECK(ran.out == "0\n");
}

TEST_CASE("sandbox: cancellation kills the container and cleans up", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  auto how = GENERATE(as<std::string>{}, "cancel_fd", "SIGINT", "SIGTERM");
  CAPTURE(how);
  Container c;
  int cancel[2];
  REQUIRE(::pipe2(cancel, O_CLOEXEC) == 0);
  layers::UniqueFd cancel_read(cancel[0]), cancel_write(cancel[1]);
  const auto before = mounts_mentioning(c.dir);

  auto spec = c.spec("echo ready; sleep 30; echo not-reached");
  spec.cancel_fd = cancel_read.get();
  std::string out;
  spec.on_output = [&](int, std::string_view bytes) {
    out.append(bytes);
    if (out.find("ready") == std::string::npos) return;
    if (how == "cancel_fd") REQUIRE(::write(cancel_write.get(), "x", 1) == 1);
    if (how == "SIGINT") ::kill(::getpid(), SIGINT);
    if (how == "SIGTERM") ::kill(::getpid(), SIGTERM);
  };
  auto status = runtime::sandbox::run(spec);
  REQUIRE_FALSE(status);
  CHECK(status.error().kind() == layers::ErrorKind::Cancelled);
  CHECK(out == "ready\n");
  CHECK(mounts_mentioning(c.dir) == before);
}

TEST_CASE("sandbox: the rootfs fallback changes the dir in place and removes its stubs",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  SandboxSpec spec = c.spec("echo made > /made; cat /etc/hostname; echo $$");
  spec.lower_dirs.clear();
  spec.upper_dir.clear();
  spec.work_dir.clear();
  spec.rootfs_dir = c.lower;
  spec.hostname = "fallback";
  auto ran = run_ok(spec);
  CHECK(ran.out == "fallback\n1\n");
  CHECK(read_file(c.lower + "/made") == "made\n");
  for (const char* stub : {"proc", "dev", "etc/hosts", "etc/resolv.conf", "etc/hostname"}) {
    CAPTURE(stub);
    CHECK_FALSE(fs::exists(c.lower + "/" + stub));
  }
}

TEST_CASE("sandbox: FROM scratch (no lower dirs) still runs a bind-mounted tool",
          "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  auto spec = c.spec("");
  spec.lower_dirs.clear();
  spec.argv = {"/busybox", "echo", "from scratch"};
  spec.binds = {{"/bin/busybox", "/busybox", true}};
  auto ran = run_ok(spec);
  CHECK(ran.out == "from scratch\n");
}

TEST_CASE("sandbox: bad specs are refused before anything starts", "[builder][sandbox]") {
  Container c;
  auto spec = c.spec("true");
  auto which = GENERATE(0, 1, 2, 3);
  CAPTURE(which);
  if (which == 0) spec.argv.clear();
  if (which == 1) spec.cwd = "relative";
  if (which == 2) spec.rootfs_dir = c.lower;  // both modes at once
  if (which == 3) spec.env = {"NOEQUALS"};
  auto ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK(ran.status.error().kind() == layers::ErrorKind::InvalidInput);
}

TEST_CASE("sandbox: overlay is supported here", "[builder][sandbox]") {
  REQUIRE_NAMESPACE_SANDBOX();
  CHECK(runtime::sandbox::overlay_supported("/tmp"));
}

// Under a plain chroot "/" is not a mount point: the namespace sandbox cannot make its
// mounts private there, so the probe says why and `--snapshotter auto` picks copy+chroot
// (README says what that executor does and refuses). Made here in a
// child: its own mount namespace, then chroot into a directory that is not a mount.
TEST_CASE("sandbox: under a plain chroot the probe names \"/\" and auto picks copy+chroot",
          "[builder][sandbox][chroot]") {
  REQUIRE_NAMESPACE_SANDBOX();
  hoist_test::TempDir dir("hoist-plain-chroot");
  fs::create_directories(dir.path() + "/tmp");
  const std::string report = dir.path() + "/tmp/report";
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::chroot(dir.path().c_str()) != 0 || ::chdir("/") != 0)
      ::_exit(3);
    std::string text;
    auto probed = runtime::sandbox::probe_namespaces("/tmp");
    text += probed ? "probe: ok\n" : "probe: " + probed.error().describe() + "\n";
    auto chosen = runtime::choose_run_executor({runtime::Snapshotter::Auto, ""}, "/tmp");
    text += chosen ? "executor: " + chosen->description + (chosen->chroot ? " [chroot]" : "") + "\n"
                   : "executor error: " + chosen.error().describe() + "\n";
    write_file("/tmp/report", text);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  const std::string text = read_file(report);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("probe: \"/\" is not a mount point"));
  CHECK_THAT(text, Catch::Contains("executor: copy+chroot (no mount namespace: \"/\" is not a mount point"));
  CHECK_THAT(text, Catch::Contains("[chroot]"));
}

// chroot_only (runtime/sandbox/sandbox.h): for unprivileged containers, no namespaces and
// no mounts. It works as root here too, so these run without capsh.
TEST_CASE("sandbox: chroot_only runs in the root and puts the root back",
          "[builder][sandbox][chroot]") {
  Container c;
  write_file(c.lower + "/etc/hosts", "image's hosts\n");
  struct stat before;
  REQUIRE(::lstat((c.lower + "/etc/hosts").c_str(), &before) == 0);
  SandboxSpec spec = c.spec(
      "cat /etc/hosts /etc/hostname; echo scribble >> /etc/hosts; "
      "test -c /dev/null && echo x > /dev/null && echo dev-ok; "
      "test -e /proc/self || echo no-proc; echo made > /made; id -u");
  spec.lower_dirs.clear();
  spec.upper_dir.clear();
  spec.work_dir.clear();
  spec.rootfs_dir = c.lower;
  spec.chroot_only = true;
  auto ran = run_ok(spec);
  CHECK(*ran.status == 0);
  CHECK(ran.out ==
        "127.0.0.1\tlocalhost hoist\n::1\tlocalhost ip6-localhost ip6-loopback\nhoist\n"
        "dev-ok\nno-proc\n0\n");
  CHECK(read_file(c.lower + "/made") == "made\n");
  // USER applies as in the namespaced sandbox.
  spec.argv = {"/bin/sh", "-c", "id -u; id -G"};
  spec.user = "app";
  auto as_app = run_ok(spec);
  CHECK(as_app.out == "1000\n1000 50\n");
  // The image's /etc/hosts is back (the same inode), the rest the sandbox made is gone.
  struct stat after;
  REQUIRE(::lstat((c.lower + "/etc/hosts").c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  CHECK(read_file(c.lower + "/etc/hosts") == "image's hosts\n");
  for (const char* made : {"dev", "etc/resolv.conf", "etc/hostname"}) {
    CAPTURE(made);
    CHECK_FALSE(fs::exists(c.lower + "/" + made));
  }
}

TEST_CASE("sandbox: chroot_only cancellation kills the command's whole process group",
          "[builder][sandbox][chroot]") {
  Container c;
  SandboxSpec spec = c.spec("sleep 1000 & echo $! > /bg; echo ready; sleep 1000");
  spec.lower_dirs.clear();
  spec.upper_dir.clear();
  spec.work_dir.clear();
  spec.rootfs_dir = c.lower;
  spec.chroot_only = true;
  std::string out;
  spec.on_output = [&](int, std::string_view bytes) {
    out.append(bytes);
    if (out.find("ready") != std::string::npos) ::kill(::getpid(), SIGINT);
  };
  auto status = runtime::sandbox::run(spec);
  REQUIRE_FALSE(status);
  CHECK(status.error().kind() == layers::ErrorKind::Cancelled);
  const std::string bg = read_file(c.lower + "/bg");
  REQUIRE_FALSE(bg.empty());
  const std::string proc = "/proc/" + bg.substr(0, bg.find('\n'));
  // Killed: gone, or a zombie until init reaps it (waits for that, asserts no time).
  bool alive = true;
  for (int i = 0; i < 500 && alive; ++i) {
    const std::string stat = read_file(proc + "/stat");
    alive = !stat.empty() && stat.find(") Z ") == std::string::npos;
    if (alive) ::usleep(10000);
  }
  CHECK_FALSE(alive);
}

TEST_CASE("sandbox: chroot_only refuses what needs namespaces or mounts",
          "[builder][sandbox][chroot]") {
  Container c;
  SandboxSpec spec = c.spec("true");
  spec.lower_dirs.clear();
  spec.upper_dir.clear();
  spec.work_dir.clear();
  spec.rootfs_dir = c.lower;
  spec.chroot_only = true;
  spec.network = runtime::sandbox::Network::None;
  auto status = runtime::sandbox::run(spec);
  REQUIRE_FALSE(status);
  CHECK_THAT(status.error().describe(), Catch::Contains("--network none"));
}

TEST_CASE("sandbox: RUN --mount targets (tmpfs, file, bind) exist only during the run",
          "[builder][sandbox][step-mounts]") {
  REQUIRE_NAMESPACE_SANDBOX();
  const bool overlay = GENERATE(true, false);
  CAPTURE(overlay);
  Container c;
  fs::create_directories(c.lower + "/root");
  ::chmod((c.lower + "/root").c_str(), 0700);
  const std::string host_dir = c.dir + "/host-src";
  fs::create_directories(host_dir);
  write_file(host_dir + "/in.txt", "from the host\n");
  SandboxSpec spec = c.spec(
      "echo scratch > /scratch/t && cat /scratch/t && "
      "cat /run/secrets/token && stat -c '%a %u:%g' /run/secrets/token && "
      "cat /root/.cache/pip/in.txt && ! touch /root/.cache/pip/x 2>/dev/null && "
      "grep -c ' /scratch ' /proc/mounts");
  using Kind = runtime::sandbox::StepMount::Kind;
  runtime::sandbox::StepMount tmpfs{Kind::Tmpfs, "/scratch"};
  tmpfs.size_bytes = 1 << 20;
  runtime::sandbox::StepMount file{Kind::File, "/run/secrets/token"};
  file.content = "s3cret-bytes\n";
  file.mode = 0440;
  file.gid = 7;
  runtime::sandbox::StepMount bind{Kind::Bind, "/root/.cache/pip"};
  bind.host_path = host_dir;
  bind.read_only = true;
  spec.step_mounts = {tmpfs, file, bind};
  if (!overlay) {
    spec.lower_dirs.clear();
    spec.upper_dir.clear();
    spec.work_dir.clear();
    spec.rootfs_dir = c.lower;
  }
  struct stat root_before;
  REQUIRE(::lstat((c.lower + "/root").c_str(), &root_before) == 0);
  auto ran = run_captured(spec);
  INFO(describe(ran));
  REQUIRE(ran.status);
  CHECK(*ran.status == 0);
  CHECK(ran.out == "scratch\ns3cret-bytes\n440 0:7\nfrom the host\n1\n");
  // Nothing of the mounts or their targets stays: no layer entry (overlay), no stub left in
  // the root (rootfs), the image's /root keeps its mode and times.
  if (overlay) CHECK(c.diff().empty());
  for (const char* gone : {"scratch", "run", "root/.cache"}) {
    CAPTURE(gone);
    CHECK_FALSE(fs::exists(c.lower + "/" + gone));
  }
  struct stat root_after;
  REQUIRE(::lstat((c.lower + "/root").c_str(), &root_after) == 0);
  CHECK((root_after.st_mode & 07777) == 0700);
  CHECK(root_after.st_mtim.tv_sec == root_before.st_mtim.tv_sec);
  CHECK(root_after.st_mtim.tv_nsec == root_before.st_mtim.tv_nsec);
  CHECK(read_file(host_dir + "/in.txt") == "from the host\n");
}

TEST_CASE("sandbox: a RUN --mount target through a symlink or of the wrong type is refused",
          "[builder][sandbox][step-mounts]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  fs::create_directories(c.lower + "/real");
  fs::create_symlink("/real", c.lower + "/link");
  write_file(c.lower + "/file", "x");
  using Kind = runtime::sandbox::StepMount::Kind;
  auto [target, kind, message] = GENERATE(table<std::string, Kind, std::string>({
      {"/link/cache", Kind::Tmpfs, "is not a directory in the image"},
      {"/file", Kind::Tmpfs, "exists in the image and is not a directory"},
      {"/real", Kind::File, "exists in the image and is not a regular file"},
      {"/", Kind::Tmpfs, "cannot be /"},
      {"relative", Kind::Tmpfs, "is not absolute"},
      {"/a/../b", Kind::Tmpfs, "contains \"..\""},
  }));
  CAPTURE(target);
  SandboxSpec spec = c.spec("true");
  runtime::sandbox::StepMount mount{kind, target};
  spec.step_mounts = {mount};
  auto ran = run_captured(spec);
  REQUIRE_FALSE(ran.status);
  CHECK_THAT(ran.status.error().describe(), Catch::Contains(message));
  CHECK(c.diff().empty());
  CHECK_FALSE(fs::exists(c.lower + "/real/cache"));
}
