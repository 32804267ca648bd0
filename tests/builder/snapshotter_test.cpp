// The two RUN executors (runtime/executor.h): overlay and copy must give the same
// layers for the same Dockerfile, byte for byte, and the copy executor's image must unpack
// to the tree the commands made. Also: choosing the executor, the fallback when overlayfs
// cannot be mounted, and `hoist run` without overlayfs.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "builder/root_copy.h"
#include "layers/store.h"
#include "tests/builder/build_fixture.h"
#include "tests/layers/tree_compare.h"
#include "tests/support/skip.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using hoist_test::read_file;

namespace {

// Every kind of change a RUN can make to a tree it did not create, spread over two RUNs
// (the second sees the first's layer as its base, and the copy executor keeps its copy).
const char* const kSnapshotterDockerfile =
    "FROM busybox:latest\n"
    "RUN mkdir -p /data/dir/sub /data/mode-dir && echo keep > /data/dir/keep && echo deep > "
    "/data/dir/sub/f \\\n"
    "    && echo f > /data/becomes-dir && echo 1 > /data/link-target && echo m > /data/modify \\\n"
    "    && echo c > /data/chmod-me && echo gone > /data/gone && ln -s gone /data/old-symlink\n"
    "RUN set -e; echo added > /added; mkdir -p /newdir/deep && echo deep > /newdir/deep/f; \\\n"
    "    echo more >> /data/modify; echo 'extra:x:5:' >> /etc/group; \\\n"
    "    rm /data/gone /etc/nsswitch.conf /bin/vi; \\\n"
    "    rm -rf /data/dir && echo now-a-file > /data/dir; \\\n"
    "    rm /data/becomes-dir && mkdir /data/becomes-dir && echo inside > /data/becomes-dir/x; \\\n"
    "    chmod 600 /data/chmod-me; chmod 700 /data/mode-dir; \\\n"
    "    echo h > /h1 && ln /h1 /h2 && ln /h1 /h3; ln /data/link-target /data/hardlink-to-base; "
    "\\\n"
    "    ln -s /added /symlink; ln -sf ../h1 /data/old-symlink\n"
    "RUN rm /h3 && echo third > /third\n";

bool is_mounted_under(const std::string& dir) {
  return read_file("/proc/self/mountinfo").find(dir) != std::string::npos;
}

bool is_empty_dir(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_empty(dir, ec) && !ec;
}

// The executor `--snapshotter auto` picks (HoistRunner::auto_executor). Tests that need the
// overlay executor skip visibly when auto would not pick it.
std::string auto_executor(const BuildFixture& f) { return f.hoist().auto_executor(); }

struct Built {
  std::string image_id;
  std::string rootfs;  // `-o type=local`: the layers unpacked afresh
  std::string err;
};

Built build_with(BuildFixture& f, const std::string& snapshotter, const std::string& name) {
  Built b;
  b.rootfs = f.out_dir() + "/" + name;
  const std::string iid = f.out_dir() + "/" + name + ".iid";
  auto r = f.build(kSnapshotterDockerfile, name,
                   {"--snapshotter", snapshotter, "--no-cache", "--iidfile", iid, "-o",
                    "type=local,dest=" + b.rootfs},
                   {"SOURCE_DATE_EPOCH=1700000000"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  b.image_id = read_file(iid);
  b.err = r.err;
  return b;
}

}  // namespace

TEST_CASE("snapshotter: overlay and copy executors give the same image digest",
          "[builder][build][snapshotter]") {
  BuildFixture f;
  if (auto e = auto_executor(f); e != "overlay") HOIST_SKIP("the overlay executor: " << e);
  Built overlay = build_with(f, "overlay", "ov");
  Built copy = build_with(f, "copy", "cp");
  CHECK(count_lines_with(overlay.err, "RUN executor: overlay") == 1);
  CHECK(count_lines_with(copy.err, "RUN executor: copy (--snapshotter copy)") == 1);
  CHECK(count_lines_with(copy.err, "RUN executor:") == 1);

  // Same layers, byte for byte (SOURCE_DATE_EPOCH clamps the mtimes both executors set).
  CHECK(copy.image_id.starts_with("sha256:"));
  CHECK(copy.image_id == overlay.image_id);

  // A fresh unpack of the copy executor's image is the tree the commands made.
  CHECK(tests::compare_trees(overlay.rootfs, copy.rootfs).empty());
  const std::string& root = copy.rootfs;
  struct stat st, other;
  CHECK(read_file(root + "/added") == "added\n");
  CHECK(read_file(root + "/newdir/deep/f") == "deep\n");
  CHECK(read_file(root + "/data/modify") == "m\nmore\n");
  CHECK(read_file(root + "/etc/group").ends_with("extra:x:5:\n"));
  CHECK(::lstat((root + "/data/gone").c_str(), &st) != 0);
  CHECK(::lstat((root + "/etc/nsswitch.conf").c_str(), &st) != 0);
  CHECK(::lstat((root + "/bin/vi").c_str(), &st) != 0);
  CHECK(::lstat((root + "/bin/sh").c_str(), &st) == 0);
  REQUIRE(::lstat((root + "/data/dir").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(read_file(root + "/data/dir") == "now-a-file\n");
  REQUIRE(::lstat((root + "/data/becomes-dir").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(read_file(root + "/data/becomes-dir/x") == "inside\n");
  REQUIRE(::lstat((root + "/data/chmod-me").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  REQUIRE(::lstat((root + "/data/mode-dir").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::lstat((root + "/h1").c_str(), &st) == 0);
  REQUIRE(::lstat((root + "/h2").c_str(), &other) == 0);
  CHECK(st.st_ino == other.st_ino);
  CHECK(::lstat((root + "/h3").c_str(), &other) != 0);
  REQUIRE(::lstat((root + "/data/link-target").c_str(), &st) == 0);
  REQUIRE(::lstat((root + "/data/hardlink-to-base").c_str(), &other) == 0);
  CHECK(st.st_ino == other.st_ino);
  CHECK(std::filesystem::read_symlink(root + "/symlink") == "/added");
  CHECK(std::filesystem::read_symlink(root + "/data/old-symlink") == "../h1");
  CHECK(read_file(root + "/third") == "third\n");

  // Nothing mounted, no copy of the root or other scratch left behind.
  CHECK_FALSE(is_mounted_under(f.hoist().root()));
  CHECK(is_empty_dir(f.hoist().root() + "/hoist-build"));
}

TEST_CASE("snapshotter: the copy is kept across RUN steps and catches up with COPY layers",
          "[builder][build][snapshotter]") {
  BuildFixture f;
  f.write("a.txt", "from the context\n");
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN echo one > /one\n"
      "COPY a.txt /data/\n"
      "RUN cat /data/a.txt /one > /both && rm /one\n"
      "WORKDIR /w\n"
      "RUN pwd > here\n";
  if (auto e = auto_executor(f); e != "overlay") HOIST_SKIP("the overlay executor: " << e);
  auto built =
      f.build(dockerfile, "t", {"--snapshotter", "copy", "--iidfile", f.out_dir() + "/iid"},
              {"SOURCE_DATE_EPOCH=1700000000"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  auto again =
      f.build(dockerfile, "t2",
              {"--snapshotter", "overlay", "--no-cache", "--iidfile", f.out_dir() + "/iid2"},
              {"SOURCE_DATE_EPOCH=1700000000"});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(read_file(f.out_dir() + "/iid") == read_file(f.out_dir() + "/iid2"));
  std::string root = f.rootfs(dockerfile);
  CHECK(read_file(root + "/both") == "from the context\none\n");
  struct stat st;
  CHECK(::lstat((root + "/one").c_str(), &st) != 0);
  CHECK(read_file(root + "/w/here") == "/w\n");
}

TEST_CASE("snapshotter: HOIST_SNAPSHOTTER chooses too; bad values are refused",
          "[builder][build][snapshotter]") {
  BuildFixture f;
  auto r = f.build("FROM busybox:latest\nRUN echo hi > /hi\n", "t", {}, {"HOIST_SNAPSHOTTER=copy"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // "copy (HOIST_SNAPSHOTTER=copy)", or "copy+chroot (HOIST_SNAPSHOTTER=copy; no mount
  // namespace: ...)" where the sandbox's namespaces cannot be made.
  const std::string copy = f.hoist().chroot_executor() ? "RUN executor: copy+chroot (" : "RUN executor: copy (";
  CHECK_THAT(r.err, Catch::Contains(copy + "HOIST_SNAPSHOTTER=copy"));
  // The flag wins over the variable (copy both ways: overlay may not be mountable here).
  auto flag = f.build("FROM busybox:latest\nRUN echo hi > /hi2\n", "t",
                      {"--snapshotter", "copy"}, {"HOIST_SNAPSHOTTER=overlay"});
  INFO(flag.err);
  REQUIRE(flag.exit_code == 0);
  CHECK_THAT(flag.err, Catch::Contains(copy + "--snapshotter copy"));
  // A build whose RUN steps are all cached needs no executor and names none.
  auto cached =
      f.build("FROM busybox:latest\nRUN echo hi > /hi2\n", "t", {}, {"HOIST_SNAPSHOTTER=copy"});
  REQUIRE(cached.exit_code == 0);
  CHECK_THAT(cached.err, !Catch::Contains("RUN executor"));

  auto bad_env = f.build("FROM busybox:latest\nRUN true\n", "t", {}, {"HOIST_SNAPSHOTTER=vfs"});
  CHECK(bad_env.exit_code == 2);
  CHECK_THAT(bad_env.err, Catch::Contains("HOIST_SNAPSHOTTER=vfs"));
  auto bad_flag = f.build("FROM busybox:latest\nRUN true\n", "t", {"--snapshotter", "vfs"});
  CHECK(bad_flag.exit_code == 2);
  CHECK_THAT(bad_flag.err, Catch::Contains("--snapshotter"));
}

TEST_CASE("snapshotter: a failing RUN on the copy executor leaves no mounts and no copy behind",
          "[builder][build][snapshotter]") {
  BuildFixture f;
  auto r = f.build("FROM busybox:latest\nRUN echo x > /x\nRUN echo partial > /y; exit 4\n", "bad",
                   {"--snapshotter", "copy"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("exit code: 4"));
  CHECK_FALSE(is_mounted_under(f.hoist().root()));
  CHECK(is_empty_dir(f.hoist().root() + "/hoist-build"));
}

// Where overlayfs cannot be mounted (here: the store is itself on an overlayfs, which
// cannot be an upper dir), auto falls back to copy and says why; overlay is refused.
TEST_CASE("snapshotter: auto falls back to copy where overlayfs cannot be mounted",
          "[builder][build][snapshotter]") {
  {
    // The test mounts an overlayfs of its own: it needs overlayfs where the other can't be.
    BuildFixture probe;
    if (auto e = auto_executor(probe); e != "overlay") HOIST_SKIP("mounting an overlayfs: " << e);
  }
  hoist_test::TempDir dir("hoist-ovl-store");
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"})
    std::filesystem::create_directories(dir.path() + sub);
  hoist_test::TempDir context("hoist-ctx");
  std::ofstream(context.path() + "/Dockerfile")
      << "FROM busybox:latest\nRUN echo one > /one\nRUN rm /one && echo two > /two\n";
  const std::string store = dir.path() + "/merged/store";
  const std::string hoist = hoist_test::hoist_bin();
  // In a private mount namespace, so the overlay goes away with the shell.
  const std::string script =
      "set -e\n"
      "mount -t overlay overlay -o lowerdir=" +
      dir.path() + "/lower,upperdir=" + dir.path() + "/upper,workdir=" + dir.path() + "/work " +
      dir.path() +
      "/merged\n"
      "export HOIST_ROOT=" +
      store + "\n" + hoist + " import --change 'CMD [\"sh\"]' " + hoist_test::busybox_rootfs_tar() +
      " busybox:latest >/dev/null\n" + hoist +
      " build --progress plain -t auto -o type=local,dest=" + dir.path() + "/out " +
      context.path() + "\n" + "echo overlay-attempt >&2\n" + "if " + hoist +
      " build --progress plain --no-cache --snapshotter overlay " + context.path() +
      "; then exit 9; fi\n"
      // No mounts and no scratch left in the namespace the builds ran in.
      "if grep -q merged/store /proc/self/mountinfo; then exit 8; fi\n"
      "test -z \"$(ls -A " +
      store + "/hoist-build)\" || exit 7\n";
  auto r =
      hoist_test::run_program({"unshare", "-m", "--propagation", "private", "sh", "-c", script});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("RUN executor: copy (overlayfs unavailable: "));
  CHECK_THAT(r.err, Catch::Contains("not supported as upperdir"));
  const std::string after = r.err.substr(r.err.find("overlay-attempt"));
  CHECK_THAT(after, Catch::Contains("--snapshotter overlay: overlayfs cannot be mounted"));
  CHECK_THAT(after, !Catch::Contains("RUN executor"));
  CHECK(read_file(dir.path() + "/out/two") == "two\n");
  struct stat st;
  CHECK(::lstat((dir.path() + "/out/one").c_str(), &st) != 0);
}

TEST_CASE("snapshotter: a root copy applies only the layers it lacks, and is rebuilt otherwise",
          "[builder][snapshotter]") {
  BuildFixture f;
  auto r = f.build("FROM busybox:latest\nRUN echo a > /a\nRUN rm /a && echo b > /b\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto store = layers::Store::open(f.hoist().root());
  REQUIRE(store);
  auto descriptor = store->find_tag("docker.io/library/t:latest");
  REQUIRE(descriptor);
  auto image = store->load_image(*descriptor);
  REQUIRE(image);
  const auto& all_layers = image->manifest.layers;
  const auto& all_ids = image->config.diff_ids;
  REQUIRE(all_layers.size() == 3);
  auto first = [](const auto& v, size_t n) {
    return std::vector(v.begin(), v.begin() + std::ptrdiff_t(n));
  };

  hoist_test::TempDir scratch("hoist-root-copy");
  auto copy = builder::RootCopy::create(scratch.path());
  REQUIRE(copy);
  const std::string root = copy->path();
  REQUIRE(copy->sync(*store, first(all_layers, 2), first(all_ids, 2)));
  CHECK(read_file(root + "/a") == "a\n");
  CHECK(copy->index().find("a") != nullptr);
  // A file no layer has: it survives as long as the copy is only added to.
  std::ofstream(root + "/marker") << "m";
  REQUIRE(copy->sync(*store, all_layers, all_ids));
  struct stat st;
  CHECK(::lstat((root + "/a").c_str(), &st) != 0);
  CHECK(read_file(root + "/b") == "b\n");
  CHECK(read_file(root + "/marker") == "m");
  CHECK(copy->diff_ids() == all_ids);

  // Fewer layers than it holds: built again from nothing.
  REQUIRE(copy->sync(*store, first(all_layers, 2), first(all_ids, 2)));
  CHECK(::lstat((root + "/marker").c_str(), &st) != 0);
  CHECK(read_file(root + "/a") == "a\n");
  CHECK(::lstat((root + "/b").c_str(), &st) != 0);

  // A RUN began and never recorded its result: built again too.
  std::ofstream(root + "/marker") << "m";
  copy->begin_change();
  REQUIRE(copy->sync(*store, first(all_layers, 2), first(all_ids, 2)));
  CHECK(::lstat((root + "/marker").c_str(), &st) != 0);
}

TEST_CASE("snapshotter: hoist run works on a copy of the image", "[builder][run][snapshotter]") {
  BuildFixture f;
  auto r = f.hoist().run(
      {"run", "--rm", "busybox:latest", "sh", "-c", "echo hi > /x && cat /x && exit 3"}, "",
      {"HOIST_SNAPSHOTTER=copy"});
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "hi\n");
  CHECK_FALSE(is_mounted_under(f.hoist().root()));
  auto bad =
      f.hoist().run({"run", "--rm", "busybox:latest", "true"}, "", {"HOIST_SNAPSHOTTER=vfs"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("HOIST_SNAPSHOTTER=vfs"));
}

// In an unprivileged container (no CAP_SYS_ADMIN: a default `docker run`, a Kubernetes
// pod) neither overlayfs nor the sandbox's namespaces are permitted; RUN then runs
// chrooted into the copy, as kaniko does. capsh drops CAP_SYS_ADMIN from the bounding set
// to make the same conditions here.
TEST_CASE("snapshotter: without CAP_SYS_ADMIN, RUN runs chrooted into the copy",
          "[builder][build][snapshotter]") {
  if (hoist_test::run_program({"sh", "-c", "command -v capsh"}).exit_code != 0) {
    HOIST_SKIP("capsh missing (Debian package libcap2-bin; run .ci/deps.sh --test)");
  }
  BuildFixture f;
  hoist_test::TempDir context("hoist-ctx");
  std::ofstream(context.path() + "/Dockerfile")
      << "FROM busybox:latest\n"
         "ENV GREETING=hello\n"
         // The /etc files are there and the command may write to them, /dev/null works,
         // and none of it reaches the layer.
         "RUN echo \"$GREETING from RUN\" > /greeting && rm /bin/vi \\\n"
         "    && test -s /etc/hosts && test -s /etc/resolv.conf && test -s /etc/hostname \\\n"
         "    && echo '10.0.0.1 scribble' >> /etc/hosts && echo quiet > /dev/null \\\n"
         "    && id -u > /uid\n";
  auto build = [&](const std::string& drop, const std::string& name) {
    std::vector<std::string> argv;
    if (!drop.empty()) argv = {"capsh", "--drop=" + drop, "--", "-c", "exec \"$0\" \"$@\""};
    for (const std::string& arg :
         {hoist_test::hoist_bin(), std::string("build"), std::string("--progress"),
          std::string("plain"), std::string("--no-cache"), std::string("--iidfile"),
          f.out_dir() + "/" + name + ".iid", std::string("-o"),
          "type=local,dest=" + f.out_dir() + "/" + name, context.path()})
      argv.push_back(arg);
    return hoist_test::run_program(
        argv, {"HOIST_ROOT=" + f.hoist().root(), "SOURCE_DATE_EPOCH=1700000000"});
  };
  auto chrooted = build("cap_sys_admin", "chroot");
  INFO(chrooted.err);
  REQUIRE(chrooted.exit_code == 0);
  CHECK(count_lines_with(chrooted.err, "RUN executor: copy+chroot (no mount namespace: ") == 1);
  CHECK_THAT(chrooted.err, Catch::Contains("Operation not permitted"));

  const std::string root = f.out_dir() + "/chroot";
  struct stat st;
  CHECK(read_file(root + "/greeting") == "hello from RUN\n");
  CHECK(read_file(root + "/uid") == "0\n");
  CHECK(::lstat((root + "/bin/vi").c_str(), &st) != 0);
  CHECK(::lstat((root + "/bin/sh").c_str(), &st) == 0);
  CHECK(read_file(root + "/etc/hosts").find("scribble") == std::string::npos);
  CHECK(::lstat((root + "/dev/null").c_str(), &st) != 0);

  // The executor auto picks with all capabilities (overlay where overlayfs can be mounted)
  // makes the same image, byte for byte.
  // A container with fewer capabilities still (no CAP_SETPCAP, no NET_RAW, as Kubernetes'
  // restricted pods): the command gets what is left of Docker's set.
  auto fewer = build("cap_sys_admin,cap_setpcap,cap_net_raw", "fewer");
  INFO(fewer.err);
  CHECK(fewer.exit_code == 0);
  CHECK(tests::compare_trees(f.out_dir() + "/fewer", root).empty());

  auto overlay = build("", "overlay");
  INFO(overlay.err);
  REQUIRE(overlay.exit_code == 0);
  CHECK(count_lines_with(overlay.err, "RUN executor: " + auto_executor(f)) == 1);
  CHECK(tests::compare_trees(f.out_dir() + "/overlay", root).empty());
  const std::string chroot_id = read_file(f.out_dir() + "/chroot.iid");
  CHECK(chroot_id.starts_with("sha256:"));
  CHECK(chroot_id == read_file(f.out_dir() + "/overlay.iid"));

  // RUN --mount needs the sandbox's mount namespace: refused there, by name.
  std::ofstream(context.path() + "/Dockerfile", std::ios::trunc)
      << "FROM busybox:latest\nRUN --mount=type=tmpfs,target=/t true\n";
  auto mount = build("cap_sys_admin", "mount");
  CHECK(mount.exit_code == 1);
  CHECK_THAT(mount.err, Catch::Contains("RUN --mount cannot be made here"));

  CHECK_FALSE(is_mounted_under(f.hoist().root()));
  CHECK(is_empty_dir(f.hoist().root() + "/hoist-build"));
}

TEST_CASE("snapshotter: both executors agree on what is a change, command by command",
          "[builder][build][snapshotter]") {
  // A file whose content and metadata equal the lower's is no change, however it was
  // touched (layers/same_entry.h); a real change to its bytes, mode, owner or mtime is.
  // Each row runs on the busybox base plus a layer holding /data, with both executors;
  // the image ids must match, and the step's layer is empty exactly when expected.
  BuildFixture f;
  if (auto e = auto_executor(f); e != "overlay") HOIST_SKIP("the overlay executor: " << e);
  auto [command, is_change] = GENERATE(table<std::string, bool>({
      {": >> /etc/passwd", false},  // opened for writing, as useradd opens /etc/.pwd.lock
      {": >> /data/f", false},
      {"touch -r /etc/passwd /etc/passwd", false},  // the mtime it had
      {"chmod 644 /data/f", false},                  // the mode it had
      {"chown 0:0 /etc/passwd /data /data/f", false},
      {"chmod 755 /data", false},
      {"mkdir -p /data/sub && rmdir /data/sub", false},
      {"touch /data/f", true},  // a real touch moves the mtime
      {"echo x >> /etc/passwd", true},
      {"chmod 600 /data/f", true},
      {"chown 1:1 /data/f", true},
      {"chmod 700 /data", true},
      {"rm /data/f", true},
      {"mv /data/f /data/g", true},
      {"ln /data/f /data/h", true},
  }));
  CAPTURE(command);
  const std::string dockerfile =
      "FROM busybox:latest\nRUN mkdir /data && echo f > /data/f && chmod 644 /data/f && chmod 755 /data\n"
      "RUN " + command + "\n";
  std::string ids[2];
  size_t layer_counts[2] = {0, 0};
  const char* executors[2] = {"overlay", "copy"};
  for (int i = 0; i < 2; ++i) {
    const std::string iid = f.out_dir() + "/" + executors[i] + ".iid";
    auto r = f.build(dockerfile, "t",
                     {"--snapshotter", executors[i], "--no-cache", "--iidfile", iid},
                     {"SOURCE_DATE_EPOCH=1700000000"});
    INFO(executors[i] << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    ids[i] = hoist_test::read_file(iid);
    layer_counts[i] = f.config()["rootfs"]["diff_ids"].size();
  }
  CHECK(ids[0].starts_with("sha256:"));
  CHECK(ids[0] == ids[1]);
  // busybox's layer, /data's, and the step's unless it changed nothing.
  CHECK(layer_counts[0] == (is_change ? 3u : 2u));
  CHECK(layer_counts[1] == layer_counts[0]);
}

TEST_CASE("snapshotter: the executor line and the base's unpack are charged to the step that needs them",
          "[builder][snapshotter][progress]") {
  BuildFixture f;
  auto r = f.build("FROM busybox:latest\nRUN true\n", "t", {"--progress", "plain"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("\n#2 RUN executor: "));
  // Over overlayfs the RUN unpacks busybox's one layer, in a line of the RUN's step, not
  // inside FROM's time or hidden in the command's (the copy executors copy the root instead).
  if (f.hoist().auto_executor() == "overlay") CHECK_THAT(r.err, Catch::Contains("\n#2 unpacked 1 layer ("));
}

TEST_CASE("build: --debug says where the build works and each step's cache key and layer", "[builder][progress]") {
  BuildFixture f;
  f.write("Dockerfile", "FROM busybox:latest\nRUN echo hi > /x\n");
  auto r = f.hoist().run({"--debug", "build", "--progress", "plain", "-t", "dbg", f.context()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("debug: store " + f.hoist().root() + ", scratch ") &&
                        Catch::Contains("debug: stages to build: 0 (target 0)") &&
                        Catch::Contains("\n#2 debug: cache key sha256:") &&
                        Catch::Contains("\n#2 debug: layer sha256:"));
  // Without --debug, none of it.
  auto quiet = f.build("FROM busybox:latest\nRUN echo hi > /x\n", "dbg", {"--progress", "plain"});
  CHECK_THAT(quiet.err, !Catch::Contains("debug:"));
}
