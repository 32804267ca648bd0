// Rootless hoist (runtime/rootless.h) as a real unprivileged user, created for the test with
// subordinate id ranges: the store in $XDG_DATA_HOME/hoist, a build whose RUN steps chown
// to uid 1000, delete a file and replace a directory, `hoist run` of the result, and the
// layer recording uid 1000 (not the subordinate id the file has on disk). Also the error
// for a user without subordinate ids. Needs root (useradd), newuidmap/newgidmap (Debian's
// uidmap) and unprivileged user namespaces: skipped, saying which, without them.

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "layers/layer_entries.h"
#include "layers/unique_fd.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

namespace {

using hoist_test::RunResult;
using hoist_test::run_program;

// Why rootless hoist cannot be tried here, or "" when it can.
std::string rootless_unavailable() {
  if (::geteuid() != 0) return "creating a user needs root";
  for (const char* tool : {"newuidmap", "newgidmap", "useradd", "runuser"})
    if (run_program({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0)
      return std::string(tool) + " missing (Debian packages uidmap, passwd, util-linux)";
  for (const char* knob : {"/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_userns_clone"}) {
    std::ifstream in(knob);
    long value = 1;
    if (in >> value && value == 0) return std::string("user namespaces are disabled (") + knob + " is 0)";
  }
  std::ifstream apparmor("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  if (long value = 0; apparmor >> value && value == 1)
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)";
  // In a chroot the kernel refuses CLONE_NEWUSER even to root (CI may run in one).
  if (RunResult probe = run_program({"unshare", "--user", "true"}); probe.exit_code != 0)
    return "this process cannot create a user namespace (in a chroot the kernel refuses them): " + probe.err;
  return "";
}

// A user made for one test (no home, no subordinate ids unless given), removed with its
// /etc/subuid and /etc/subgid lines when the test ends.
class TestUser {
 public:
  explicit TestUser(bool with_subids) : name_("hoistrl" + std::to_string(::getpid()) + (with_subids ? "a" : "b")) {
    run_program({"userdel", name_});  // a leftover of a killed run
    auto made = run_program({"useradd", "-M", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0",
                             "-s", "/bin/sh", name_});
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    if (with_subids) {
      // Somewhere unlikely to meet another user's range; the kernel only needs it unique
      // within this namespace.
      const long start = 300000000L + (::getpid() % 1000) * 70000L;
      range_ = std::to_string(start) + "-" + std::to_string(start + 65535);
      subuid_start_ = uint32_t(start);
      auto added = run_program({"usermod", "--add-subuids", range_, "--add-subgids", range_, name_});
      INFO(added.err);
      REQUIRE(added.exit_code == 0);
    }
    struct passwd* pw = ::getpwnam(name_.c_str());
    REQUIRE(pw != nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  ~TestUser() {
    if (!range_.empty()) run_program({"usermod", "--del-subuids", range_, "--del-subgids", range_, name_});
    run_program({"userdel", name_});
  }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  uint32_t subuid_start() const { return subuid_start_; }

 private:
  std::string name_, range_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  uint32_t subuid_start_ = 0;
};

// A directory the user can use: the hoist binary and the busybox tarball copied in (the
// build tree may be out of its reach), a home of its own, XDG_DATA_HOME beneath it.
class UserSpace {
 public:
  explicit UserSpace(const TestUser& user) : user_(user), dir_("hoist-rootless") {
    REQUIRE(::chmod(dir_.path().c_str(), 0755) == 0);
    REQUIRE(run_program({"cp", hoist_test::hoist_bin(), bin()}).exit_code == 0);
    REQUIRE(run_program({"cp", hoist_test::busybox_rootfs_tar(), busybox_tar()}).exit_code == 0);
    REQUIRE(::chmod(busybox_tar().c_str(), 0644) == 0);
    REQUIRE(::mkdir(home().c_str(), 0700) == 0);
    REQUIRE(::chown(home().c_str(), user.uid(), user.gid()) == 0);
    INFO("the user cannot reach " << bin() << ": every directory above $TMPDIR must be searchable by others");
    REQUIRE(run_program({"runuser", "-u", user.name(), "--", "test", "-x", bin()}).exit_code == 0);
  }
  std::string bin() const { return dir_ / "hoist"; }
  std::string busybox_tar() const { return dir_ / "busybox.tar"; }
  std::string home() const { return dir_ / "home"; }
  std::string store() const { return home() + "/data/hoist"; }

  // hoist ARGS as the user, from its home, with HOME and XDG_DATA_HOME of its own.
  RunResult hoist(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"runuser", "-u", user_.name(), "--", "env", "-u", "HOIST_ROOT",
                                     "-C", home(), "HOME=" + home(), "XDG_DATA_HOME=" + home() + "/data",
                                     bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
  }

 private:
  const TestUser& user_;
  hoist_test::TempDir dir_;
};

// Every entry of the layer blob `digest` in `store`.
std::vector<layers::LayerEntry> layer_entries(const std::string& store, const std::string& digest) {
  const std::string path = store + "/blobs/sha256/" + digest.substr(digest.find(':') + 1);
  layers::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  std::vector<layers::LayerEntry> out;
  auto walked = layers::for_each_layer_entry(fd.get(), false, [&](const layers::LayerEntry& e) -> layers::Result<void> {
    out.push_back(e);
    return {};
  });
  REQUIRE(walked);
  return out;
}

}  // namespace

TEST_CASE("rootless: a non-root user builds with RUN and runs the image", "[builder][rootless]") {
  if (auto why = rootless_unavailable(); !why.empty()) HOIST_SKIP(why);
  TestUser user(true);
  UserSpace space(user);

  auto imported = space.hoist({"import", "--change", "CMD [\"sh\"]", space.busybox_tar(), "busybox:latest"});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  // The store is the user's, in $XDG_DATA_HOME/hoist.
  struct stat st;
  REQUIRE(::stat((space.store() + "/index.json").c_str(), &st) == 0);
  CHECK(st.st_uid == user.uid());

  hoist_test::write_file(space.home() + "/Dockerfile",
                         "FROM busybox:latest\n"
                         "RUN echo rootless > /f && chown 1000:1000 /f && id -u > /uid\n"
                         "RUN rm /etc/group && rm -r /home && mkdir /home && touch /home/new\n");
  REQUIRE(::chown((space.home() + "/Dockerfile").c_str(), user.uid(), user.gid()) == 0);
  // --network none: the default network needs /dev/net/tun, which many hosts keep root's.
  auto built = space.hoist({"build", "--progress", "plain", "--network", "none", "-t", "rl", "."});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  CHECK_THAT(built.err, Catch::Contains("rootless: user namespace (uid 0 is uid " + std::to_string(user.uid()) +
                                        ", 1-65536 are " + std::to_string(user.subuid_start()) + "-"));

  auto ran = space.hoist({"run", "--rm", "--pull", "never", "--network", "none", "rl", "sh", "-c",
                          "stat -c '%u:%g %n' /f; cat /f /uid; ls /home; test -e /etc/group || echo no-group"});
  INFO(ran.err);
  REQUIRE(ran.exit_code == 0);
  CHECK(ran.out == "1000:1000 /f\nrootless\n0\nnew\nno-group\n");

  // The layer says uid 1000, whatever id the file has on the host, and keeps none of
  // overlay's user.overlay.* bookkeeping; the replaced /home is opaque, /etc/group a whiteout.
  auto inspected = space.hoist({"inspect", "rl"});
  REQUIRE(inspected.exit_code == 0);
  auto j = nlohmann::json::parse(inspected.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  const auto& manifest_layers = j.at(0).at("Manifest").at("layers");
  REQUIRE(manifest_layers.size() == 3);
  bool saw_f = false;
  for (const auto& e : layer_entries(space.store(), manifest_layers.at(1).at("digest"))) {
    if (e.path != "f") continue;
    saw_f = true;
    CHECK(e.uid == 1000);
    CHECK(e.gid == 1000);
  }
  CHECK(saw_f);
  std::vector<std::string> paths;
  for (const auto& e : layer_entries(space.store(), manifest_layers.at(2).at("digest"))) {
    paths.push_back(e.path);
    for (const auto& [name, value] : e.xattrs) CHECK_FALSE(name.starts_with("user.overlay."));
  }
  CHECK(std::find(paths.begin(), paths.end(), "etc/.wh.group") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "home/.wh..wh..opq") != paths.end());

  // Every hoist command manages the files the subordinate ids own.
  auto removed = space.hoist({"rmi", "rl"});
  INFO(removed.err);
  CHECK(removed.exit_code == 0);
  auto pruned = space.hoist({"prune"});
  INFO(pruned.err);
  CHECK(pruned.exit_code == 0);
}

TEST_CASE("rootless: a user without subordinate ids is told what to add", "[builder][rootless]") {
  if (auto why = rootless_unavailable(); !why.empty()) HOIST_SKIP(why);
  TestUser user(false);
  UserSpace space(user);
  auto built = space.hoist({"build", "-t", "rl", "."});
  CHECK(built.exit_code == 1);
  CHECK_THAT(built.err, Catch::Contains("hoist build as a non-root user needs rootless mode") &&
                            Catch::Contains("user " + user.name()) &&
                            Catch::Contains("no subordinate id range in /etc/subuid") &&
                            Catch::Contains("usermod --add-subuids"));
  // Commands that only use the store still run, as the plain user.
  auto images = space.hoist({"images"});
  INFO(images.err);
  CHECK(images.exit_code == 0);
  // So does a command's help.
  auto help = space.hoist({"build", "--help"});
  INFO(help.err);
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::StartsWith("Usage: hoist build"));
}
