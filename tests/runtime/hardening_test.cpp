// Probes run from inside the sandbox, asserting what a RUN step or `hoist run` can and
// cannot reach: Docker's default where it matters (tests/hardening/sandbox.md has the table
// beside Docker's own outcomes). The system calls busybox lacks come from probe.c, built
// here with `cc -static` and copied into the image.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "runtime/sandbox/cgroup.h"
#include "runtime/sandbox/sandbox.h"
#include "layers/unique_fd.h"
#include "tests/runtime/sandbox_fixture.h"
#include "tests/support/skip.h"
#include "tests/support/test_env.h"

using namespace sandbox_fixture;
using runtime::sandbox::Network;

namespace {

// The probe, built once per test run; empty when there is no C compiler.
const std::string& probe_binary() {
  static const std::string path = [] {
    const std::string source = hoist_test::source_root() + "/tests/runtime/probe.c";
    char tmpl[] = "/tmp/hoist-probe-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return std::string();
    const std::string out = std::string(tmpl) + "/probe";
    const std::string cmd = "cc -static -O1 -o " + out + " " + source + " 2>&1";
    if (std::system(cmd.c_str()) != 0) return std::string();
    return out;
  }();
  return path;
}

// The busybox image plus /bin/probe, a setuid-root copy of it (/bin/suid), a block device
// node for the host's first disk shipped in the image (/disk/sda), and /sys.
struct ProbeContainer : Container {
  bool ready = false;
  ProbeContainer() {
    if (probe_binary().empty()) return;
    fs::copy_file(probe_binary(), lower + "/bin/probe");
    fs::copy_file(probe_binary(), lower + "/bin/suid");
    REQUIRE(::chmod((lower + "/bin/suid").c_str(), 04755) == 0);
    fs::create_directories(lower + "/disk");
    fs::create_directories(lower + "/sys");
    REQUIRE(::mknod((lower + "/disk/sda").c_str(), S_IFBLK | 0666, makedev(8, 0)) == 0);
    ready = true;
  }
};

// A TCP listener on the host at `address`, port chosen by the kernel; it accepts and closes
// every connection (busybox nc waits for the peer to hang up).
struct Listener {
  layers::UniqueFd fd;
  int port = 0;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  explicit Listener(const std::string& address) {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) == 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(fd.get(), 16) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    port = ntohs(sa.sin_port);
    acceptor = std::thread([this] {
      while (!stop) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        int conn = ::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0) ::close(conn);
      }
    });
  }
  ~Listener() {
    stop = true;
    acceptor.join();
  }
};

// This machine's first non-loopback IPv4 address, or "".
std::string host_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string out;
  for (ifaddrs* a = list; a && out.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) && std::string(text).rfind("127.", 0) != 0)
      out = text;
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

TEST_CASE("hardening: probes from inside the container fail as under Docker",
          "[runtime][sandbox][hardening]") {
  REQUIRE_NAMESPACE_SANDBOX();
  ProbeContainer c;
  if (!c.ready) {
    HOIST_SKIP("no C compiler to build tests/runtime/probe.c (cc -static)");
  }
  const std::string host_secret = c.dir + "/host-secret";
  write_file(host_secret, "secret\n");
  struct Case {
    std::string script, user, expected;
  };
  auto [script, user, expected] = GENERATE_COPY(values<Case>({
      // A block device made with mknod (CAP_MKNOD is kept, as Docker keeps it) or shipped
      // in the image does not open: every mount is nodev (Docker: EPERM, device cgroup).
      {"probe mknod-block /tmp/sda", "", "EACCES\n"},
      {"probe mknod-block /dev/sda", "", "EACCES\n"},
      {"probe open /disk/sda", "", "EACCES\n"},
      {"probe open /disk/sda", "app", "EACCES\n"},
      // The allowed nodes still work.
      {"head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok", "app", "4\nnull-ok\n"},
      // Seccomp: Docker's default profile.
      {"probe finit_module", "", "EPERM\n"},
      {"probe init_module", "", "EPERM\n"},
      {"probe unshare-user", "", "EPERM\n"},
      {"probe unshare-net", "", "EPERM\n"},
      {"probe clone-newuser", "", "EPERM\n"},
      {"probe clone3", "", "ENOSYS\n"},
      {"probe kcmp", "", "EPERM\n"},
      {"probe mount", "", "EPERM\n"},
      {"probe sethostname", "", "EPERM\n"},
      {"probe keyctl", "", "EPERM\n"},
      {"probe bpf", "", "EPERM\n"},
      {"probe userfaultfd", "", "EPERM\n"},
      {"probe perf_event_open", "", "EPERM\n"},
      {"unshare -U true 2>/dev/null || echo refused", "", "refused\n"},
      // process_vm_readv needs CAP_SYS_PTRACE, as in Docker 20.10, even on itself.
      {"probe process_vm_readv 0", "", "EPERM\n"},
      {"probe process_vm_readv " + std::to_string(::getpid()), "", "EPERM\n"},
      // ptrace is allowed (kernel >= 4.8, as Docker), but the host's processes are not in
      // the container's PID namespace.
      {"probe ptrace " + std::to_string(::getpid()), "", "ESRCH\n"},
      // /proc/1/root is the container's own root.
      {"cat /proc/1/root" + host_secret + " 2>/dev/null || echo hidden", "", "hidden\n"},
      // Docker's masked paths.
      {"ls /sys/firmware | wc -l; wc -c < /proc/keys", "", "0\n0\n"},
      {"echo 1 > /proc/sys/kernel/panic 2>/dev/null || echo read-only", "", "read-only\n"},
      // A setuid-root binary in the image gains nothing (no_new_privs; Docker sets it only
      // with --security-opt no-new-privileges, and there the same probe gets euid 0).
      {"suid euid", "app", "euid=1000\n"},
      // /dev/shm is a 64 MiB tmpfs, as Docker's.
      {"dd if=/dev/zero of=/dev/shm/fill bs=1M count=100 2>/dev/null; wc -c < /dev/shm/fill",
       "", "67108864\n"},
  }));
  CAPTURE(script, user);
  SandboxSpec spec = c.spec(script);
  spec.user = user;
  auto ran = run_ok(spec);
  CHECK(ran.out == expected);
}

TEST_CASE("hardening: the host's hostname stays as it was", "[runtime][sandbox][hardening]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  char before[256] = {}, after[256] = {};
  REQUIRE(::gethostname(before, sizeof before - 1) == 0);
  auto ran = run_ok(c.spec("hostname pwned 2>/dev/null; hostname"));
  CHECK(ran.out == "hoist\n");
  REQUIRE(::gethostname(after, sizeof after - 1) == 0);
  CHECK(std::string(after) == before);
}

TEST_CASE("hardening: a fork bomb stops at the pids limit by itself",
          "[runtime][sandbox][hardening]") {
  REQUIRE_NAMESPACE_SANDBOX();
  ProbeContainer c;
  if (!c.ready) {
    HOIST_SKIP("no C compiler to build tests/runtime/probe.c (cc -static)");
  }
  if (auto cgroup = runtime::sandbox::PidsCgroup::create(8); !cgroup) {
    HOIST_SKIP("no pids cgroup here: " + cgroup.error().describe());
  }
  SandboxSpec spec = c.spec("");
  spec.argv = {"/bin/probe", "forkbomb"};  // PID 1: its exit ends every child
  spec.pids_limit = 64;
  const auto start = std::chrono::steady_clock::now();
  auto ran = run_ok(spec);
  CHECK(*ran.status == 0);
  CHECK(ran.out == "forked=63 EAGAIN\n");  // 64 with the probe itself, as under Docker
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(25));
}

TEST_CASE("hardening: the default network is a namespace of its own behind slirp4netns",
          "[runtime][sandbox][hardening][network]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  Listener loopback("127.0.0.1");
  const std::string port = std::to_string(loopback.port);
  const std::string probe_loopback =
      "nc -w 3 127.0.0.1 " + port + " </dev/null && echo lo-open || echo lo-closed; "
      "nc -w 3 10.0.2.2 " + port + " </dev/null 2>/dev/null && echo gw-open || echo gw-closed";

  SECTION("default: lo and tap0 only; the host's loopback is out of reach") {
    auto ran = run_ok(c.spec("sed -n 's/^ *\\([a-z0-9]*\\):.*/\\1/p' /proc/net/dev | sort; " +
                                   probe_loopback));
    CHECK(ran.out == "lo\ntap0\nlo-closed\ngw-closed\n");
  }
  SECTION("host: the host's loopback listener answers") {
    SandboxSpec spec = c.spec("nc -w 3 127.0.0.1 " + port + " </dev/null && echo lo-open");
    spec.network = Network::Host;
    auto ran = run_ok(spec);
    CHECK(ran.out == "lo-open\n");
  }
  SECTION("default: outbound through slirp reaches the host's non-loopback address") {
    const std::string address = host_address();
    if (address.empty()) {
      HOIST_SKIP("this machine has no non-loopback IPv4 address to connect to");
    }
    Listener outside(address);
    auto ran = run_ok(c.spec("nc -w 5 " + address + " " + std::to_string(outside.port) +
                                   " </dev/null && echo reached"));
    CHECK(ran.out == "reached\n");
  }
}

TEST_CASE("hardening: without slirp4netns the default network is refused, never the host's",
          "[runtime][sandbox][hardening][network]") {
  REQUIRE_NAMESPACE_SANDBOX();
  Container c;
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", "/nonexistent", 1);
  auto ran = run_captured(c.spec("echo ran"));
  ::setenv("PATH", saved.c_str(), 1);
  REQUIRE_FALSE(ran.status);
  CHECK(ran.out.empty());
  CHECK_THAT(ran.status.error().describe(), Catch::Contains("slirp4netns") &&
                                                Catch::Contains("--network host"));
}
