// The build context is a trust boundary: nothing a context holds (symlinks, FIFOs,
// sockets, devices, odd bytes in the Dockerfile) may read the host, hang the build or
// crash it. Each case builds through the real hoist binary; a canary directory outside
// the context holds a secret whose bytes must never reach any blob of the store.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "layers/compress.h"
#include "layers/unique_fd.h"
#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"

using build_test::BuildFixture;
using hoist_test::read_file;

namespace {

// A directory outside every context, holding secret.txt (and a tar of it) with bytes
// unique to this run.
class Canary {
 public:
  Canary() : dir_("hoist-canary") {
    std::random_device rd;
    secret_ = "CANARY-" + std::to_string(rd()) + "-" + std::to_string(rd()) + "-never-in-an-image";
    std::ofstream(dir_.path() + "/secret.txt", std::ios::binary) << secret_ << "\n";
    std::filesystem::create_directories(dir_.path() + "/sub");
    std::ofstream(dir_.path() + "/sub/secret.txt", std::ios::binary) << secret_ << "\n";
    auto tar = hoist_test::run_program({"tar", "-C", dir_.path(), "-cf", dir_.path() + "/secret.tar", "secret.txt"});
    REQUIRE(tar.exit_code == 0);
  }
  const std::string& dir() const { return dir_.path(); }
  const std::string& secret() const { return secret_; }

 private:
  hoist_test::TempDir dir_;
  std::string secret_;
};

// Every file under the store, blobs decompressed (gzip/zstd layers), searched for `needle`.
// Returns the files that hold it.
std::vector<std::string> store_files_holding(const std::string& root, const std::string& needle) {
  std::vector<std::string> hits;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string path = it->path().string();
    std::string plain;
    layers::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    auto decoded = layers::decompress(fd.get(), [&](std::span<const std::byte> b) -> layers::Result<void> {
      plain.append(reinterpret_cast<const char*>(b.data()), b.size());
      return {};
    });
    if (!decoded) plain.clear();
    std::string raw = read_file(path);
    if (plain.find(needle) != std::string::npos || raw.find(needle) != std::string::npos) hits.push_back(path);
  }
  return hits;
}

void symlink_in(const std::string& dir, const std::string& name, const std::string& target) {
  std::filesystem::create_directories(std::filesystem::path(dir + "/" + name).parent_path());
  REQUIRE(::symlink(target.c_str(), (dir + "/" + name).c_str()) == 0);
}

}  // namespace

TEST_CASE("COPY and ADD resolve every source component inside the context, never on the host",
          "[builder][copy][context]") {
  // The context holds (CANARY is the canary's absolute path, NAME its last component):
  //   last -> CANARY/secret.txt      mid -> CANARY          rel -> ../NAME
  //   chain -> chain2 -> mid         tree/out -> CANARY     abs -> /inside
  //   up -> ../../..                 inside/secret.txt, inside.txt (the in-context files)
  // BuildKit resolves each symlink with the context as the root: an absolute target is
  // CONTEXT/target, ".." stops at the context. So the host paths are not found, and the
  // in-context ones are copied. `expect` is the copied file's content, or "" for a failure
  // whose message must name the source.
  auto [instruction, source, expect] = GENERATE(table<std::string, std::string, std::string>({
      {"COPY last /x", "last", ""},                           // last component absolute
      {"COPY mid/secret.txt /x", "mid/secret.txt", ""},       // middle component absolute
      {"COPY rel/secret.txt /x", "rel/secret.txt", ""},       // middle relative ../
      {"COPY chain/secret.txt /x", "chain/secret.txt", ""},   // nested chain
      {"COPY mid/sub/secret.txt /x", "mid/sub/secret.txt", ""},
      {"COPY mid/*.txt /x/", "mid/*.txt", ""},                // glob through a symlinked dir
      {"COPY mi*/secret.txt /x/", "mi*/secret.txt", ""},      // wildcard on the link itself
      {"COPY mid /x/", "mid", ""},                            // the link as a directory
      {"ADD mid/secret.txt /x", "mid/secret.txt", ""},        // ADD
      {"ADD mid/secret.tar /x/", "mid/secret.tar", ""},       // ADD of an archive
      {"COPY --chown=1:1 mid/secret.txt /x", "mid/secret.txt", ""},  // --chown
      {"COPY abs/secret.txt /x", "", "inside\n"},             // /inside is CONTEXT/inside
      {"COPY up/inside.txt /x", "", "top\n"},                 // .. stops at the context
      {"COPY abs/*.txt /x/", "", "inside\n"},                 // glob prefix resolved inside
  }));
  CAPTURE(instruction);
  // Both ways of resolving beneath the context: openat2, and the walk taken without it.
  const bool without_openat2 = GENERATE(false, true);
  CAPTURE(without_openat2);
  Canary canary;
  BuildFixture f(build_test::openat2_launcher(without_openat2));
  const std::string ctx = f.context();
  const std::string name = std::filesystem::path(canary.dir()).filename().string();
  symlink_in(ctx, "last", canary.dir() + "/secret.txt");
  symlink_in(ctx, "mid", canary.dir());
  symlink_in(ctx, "rel", "../" + name);
  symlink_in(ctx, "chain2", "mid");
  symlink_in(ctx, "chain", "chain2");
  symlink_in(ctx, "abs", "/inside");
  symlink_in(ctx, "up", "../../..");
  f.write("inside/secret.txt", "inside\n");
  f.write("inside.txt", "top\n");

  const std::string dockerfile = "FROM busybox:latest\n" + instruction + "\n";
  auto r = f.build(dockerfile);
  INFO(r.err);
  if (expect.empty()) {
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("Dockerfile:2"));
    CHECK_THAT(r.err, Catch::Contains(source));
  } else {
    REQUIRE(r.exit_code == 0);
    std::string root = f.rootfs(dockerfile);
    std::string copied = std::filesystem::is_directory(root + "/x") ? root + "/x/secret.txt" : root + "/x";
    if (instruction.find("inside.txt") != std::string::npos) copied = root + "/x";
    CHECK(read_file(copied) == expect);
  }
  CHECK(store_files_holding(f.hoist().root(), canary.secret()).empty());
}

TEST_CASE("a symlink out of the context met while copying a directory is copied as a link",
          "[builder][copy][context]") {
  // Both ways of resolving beneath the context: openat2, and the walk taken without it.
  const bool without_openat2 = GENERATE(false, true);
  CAPTURE(without_openat2);
  Canary canary;
  BuildFixture f(build_test::openat2_launcher(without_openat2));
  f.write("tree/a.txt", "a\n");
  symlink_in(f.context(), "tree/out", canary.dir());
  symlink_in(f.context(), "tree/file", canary.dir() + "/secret.txt");
  std::string root = f.rootfs("FROM busybox:latest\nCOPY tree/ /t/\n");
  CHECK(std::filesystem::read_symlink(root + "/t/out") == canary.dir());
  CHECK(std::filesystem::read_symlink(root + "/t/file") == canary.dir() + "/secret.txt");
  CHECK(read_file(root + "/t/a.txt") == "a\n");
  CHECK(store_files_holding(f.hoist().root(), canary.secret()).empty());
}

TEST_CASE("COPY --from resolves a stage's symlinks inside that stage's root, not the host's",
          "[builder][copy][context]") {
  // Both ways of resolving beneath the context: openat2, and the walk taken without it.
  const bool without_openat2 = GENERATE(false, true);
  CAPTURE(without_openat2);
  BuildFixture f(build_test::openat2_launcher(without_openat2));
  // Stage s1 gets /t/etc -> /etc (copied as a link); reading through it must give the
  // stage's own /etc/passwd (busybox's), never the host's.
  symlink_in(f.context(), "tree/etc", "/etc");
  std::string root = f.rootfs(
      "FROM busybox:latest AS s1\nCOPY tree/ /t/\n"
      "FROM busybox:latest\nCOPY --from=s1 /t/etc/passwd /from-stage\n");
  std::string busybox_passwd = read_file(root + "/etc/passwd");
  REQUIRE(!busybox_passwd.empty());
  CHECK(read_file(root + "/from-stage") == busybox_passwd);
  CHECK(read_file(root + "/from-stage") != read_file("/etc/passwd"));
}

TEST_CASE(".dockerignore exceptions naming .. cannot reach outside the context",
          "[builder][copy][context]") {
  Canary canary;
  BuildFixture f;
  const std::string name = std::filesystem::path(canary.dir()).filename().string();
  f.write(".dockerignore", "*\n!Dockerfile\n!../" + name + "/secret.txt\n!/../" + name + "\n!keep.txt\n");
  f.write("keep.txt", "keep\n");
  auto r = f.build("FROM busybox:latest\nCOPY ../" + name + "/secret.txt /x\n");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("outside the build context"));
  r = f.build("FROM busybox:latest\nCOPY /" + name + "/secret.txt /x\n");
  CHECK(r.exit_code == 1);
  std::string root = f.rootfs("FROM busybox:latest\nCOPY keep.txt /k\n");
  CHECK(read_file(root + "/k") == "keep\n");
  CHECK(store_files_holding(f.hoist().root(), canary.secret()).empty());
}

namespace {

// hoist build under `timeout`, so a hang fails the test instead of stalling the suite.
hoist_test::RunResult build_with_timeout(const BuildFixture& f, const std::string& dockerfile,
                                         std::vector<std::string> extra = {}) {
  f.write("Dockerfile", dockerfile);
  std::vector<std::string> argv = {"timeout", "120", hoist_test::hoist_bin(), "build", "--progress", "plain", "-t", "t"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(f.context());
  return hoist_test::run_program(argv, {"HOIST_ROOT=" + f.hoist().root()});
}

void make_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::strcpy(addr.sun_path, path.c_str());
  CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);  // the socket file stays
}

}  // namespace

TEST_CASE("FIFOs, sockets and devices in the context never hang a build", "[builder][copy][context]") {
  BuildFixture f;
  const std::string ctx = f.context();
  f.write("dir/a.txt", "a\n");
  REQUIRE(::mkfifo((ctx + "/fifo").c_str(), 0644) == 0);
  REQUIRE(::mkfifo((ctx + "/dir/fifo").c_str(), 0644) == 0);
  make_socket(ctx + "/sock");
  make_socket(ctx + "/dir/sock");
  symlink_in(ctx, "fifolink", "fifo");
  const bool can_mknod = ::mknod((ctx + "/dir/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;

  SECTION("a FIFO, a socket or a link to a FIFO named as a source is an error naming it") {
    auto [instruction, named] = GENERATE(table<std::string, std::string>({
        {"ADD fifo /x", "fifo"},
        {"COPY fifo /x", "fifo"},
        {"COPY fifolink /x", "fifolink"},
        {"COPY sock /x", "sock"},
        {"COPY f*o /x", "f*o"},
    }));
    CAPTURE(instruction);
    auto r = build_with_timeout(f, "FROM busybox:latest\n" + instruction + "\n");
    INFO(r.err);
    CHECK(r.exit_code == 1);  // 124 would be the timeout: a hang
    CHECK_THAT(r.err, Catch::Contains("\"" + named + "\""));
    CHECK_THAT(r.err, Catch::Contains("named pipe") || Catch::Contains("socket"));
  }
  SECTION("walking a directory leaves pipes and sockets out and copies devices as nodes") {
    auto instruction = GENERATE(std::string("COPY dir/ /d/"), std::string("ADD dir/ /d/"));
    CAPTURE(instruction);
    auto r = build_with_timeout(f, "FROM busybox:latest\n" + instruction + "\n",
                                {"-o", "type=local,dest=" + f.out_dir() + "/root"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string root = f.out_dir() + "/root";
    struct stat st;
    CHECK(read_file(root + "/d/a.txt") == "a\n");
    CHECK(::lstat((root + "/d/fifo").c_str(), &st) != 0);
    CHECK(::lstat((root + "/d/sock").c_str(), &st) != 0);
    if (can_mknod) {
      REQUIRE(::lstat((root + "/d/null").c_str(), &st) == 0);
      CHECK(S_ISCHR(st.st_mode));
      CHECK(st.st_rdev == makedev(1, 3));
    }
  }
  if (!can_mknod) hoist_test::record_skip("the char device rows (mknod not permitted: not root)");
}

TEST_CASE("invalid UTF-8 in a Dockerfile is written as U+FFFD in the image JSON, raw on disk",
          "[builder][metadata][context]") {
  BuildFixture f;
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN mkdir /app\xff\n"
      "ENV BAD=v\xfe\n"
      "LABEL bad=\"l\xff\"\n"
      "ENTRYPOINT [\"/bin/echo\", \"\xff\"]\n";
  auto r = f.build(dockerfile);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string fffd = "\xef\xbf\xbd";
  auto config = f.config();
  std::string text = config.dump();
  CHECK(text.find(fffd) != std::string::npos);
  bool history_has_it = false;
  for (const auto& h : config.at("history"))
    if (h.value("created_by", "").find("mkdir /app" + fffd) != std::string::npos) history_has_it = true;
  CHECK(history_has_it);
  CHECK(config.at("config").at("Labels").at("bad") == "l" + fffd);
  auto h = f.hoist().run({"history", "--no-trunc", "t"});
  CHECK(h.exit_code == 0);
  // A rebuild is all cached and gives the same image; a different invalid byte does not
  // hit that cache (the keys hash the raw bytes, not the U+FFFD text).
  auto again = f.build(dockerfile);
  CHECK(again.exit_code == 0);
  CHECK(build_test::count_lines_with(again.err, "CACHED") == 4);
  std::string other = dockerfile;
  other.replace(other.find("/app\xff"), 5, "/app\xfe");
  auto different = f.build(other, "t2");
  INFO(different.err);
  CHECK(different.exit_code == 0);
  CHECK(build_test::count_lines_with(different.err, "CACHED") == 0);
  // The command ran with the raw byte, as Docker's shell gets it.
  std::string root = f.rootfs(dockerfile);
  struct stat st;
  CHECK(::stat((root + "/app\xff").c_str(), &st) == 0);
  CHECK(::stat((root + "/app" + fffd).c_str(), &st) != 0);
}

TEST_CASE("a symlink one source copies never redirects another source's writes to the host",
          "[builder][copy][context]") {
  // a/sub -> HOSTDIR is copied as a link to /out/sub; b/sub/pwned.txt must then not be
  // written through it (it was: HOSTDIR/pwned.txt appeared on the host). BuildKit refuses
  // to copy a directory onto a non-directory; so does hoist.
  // Both ways of resolving beneath the context: openat2, and the walk taken without it.
  const bool without_openat2 = GENERATE(false, true);
  CAPTURE(without_openat2);
  hoist_test::TempDir host_dir("hoist-hostdir");
  BuildFixture f(build_test::openat2_launcher(without_openat2));
  symlink_in(f.context(), "a/sub", host_dir.path());
  f.write("b/sub/pwned.txt", "pwned\n");
  auto r = f.build("FROM busybox:latest\nCOPY a/ b/ /out/\n");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("/out/sub"));
  CHECK_FALSE(std::filesystem::exists(host_dir.path() + "/pwned.txt"));
}
