// A store on a full disk: a small tmpfs (16 MiB) nearly filled by a filler file. Build,
// import and pull each fail with an error naming ENOSPC and the path, leave the store
// consistent (`hoist fsck` clean), and succeed once the filler is gone.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"
#include "tests/support/registry_fixture.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;

namespace {

// A 16 MiB tmpfs at a temp dir (a build of the 3 MiB file below needs ~12 MiB once space is freed), unmounted on destruction.
class SmallDisk {
 public:
  SmallDisk() : dir_("hoist-diskfull") {
    mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=16m") == 0;
    if (!mounted_) why_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return dir_.path(); }

  // Leaves about `left` bytes free, with a filler file.
  void fill_leaving(uint64_t left) {
    unfill();
    struct statvfs st {};
    REQUIRE(::statvfs(path().c_str(), &st) == 0);
    uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    REQUIRE(free_bytes > left);
    int fd = ::open(filler().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::posix_fallocate(fd, 0, static_cast<off_t>(free_bytes - left)) == 0);
    ::close(fd);
  }
  void unfill() { ::unlink(filler().c_str()); }

 private:
  std::string filler() const { return path() + "/filler"; }
  hoist_test::TempDir dir_;
  bool mounted_ = false;
  std::string why_;
};

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

void check_disk_full_error(const RunResult& r, const std::string& store) {
  INFO(r.err);
  CHECK(r.exit_code == 1);
  // A pull knows the blobs' sizes up front and refuses before writing; the rest meet ENOSPC.
  CHECK_THAT(r.err, Catch::Contains("No space left on device") || Catch::Contains("bytes free"));
  CHECK_THAT(r.err, Catch::Contains(store));
}

void check_fsck_clean(const HoistRunner& hoist) {
  auto fsck = hoist.run({"fsck"});
  INFO(fsck.out << fsck.err);
  CHECK(fsck.exit_code == 0);
}

}  // namespace

TEST_CASE("disk full: build, import and pull name ENOSPC and the path, leave the store "
          "consistent, and succeed once space is freed",
          "[builder][diskfull]") {
  SmallDisk disk;
  if (!disk.mounted()) {
    HOIST_SKIP("a tmpfs cannot be mounted here (" << disk.why() << ")");
  }
  const std::string store = disk.path() + "/store";
  HoistRunner hoist(store);
  {
    auto r = hoist.import_busybox();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  hoist_test::TempDir work("hoist-diskfull-ctx");
  // 3 MiB of random bytes: incompressible, so the layer is as big as the file.
  const std::string big = random_bytes(3 << 20, 1);
  std::filesystem::create_directories(work.path() + "/ctx");
  std::ofstream(work.path() + "/ctx/big.bin", std::ios::binary) << big;
  std::ofstream(work.path() + "/ctx/Dockerfile") << "FROM busybox:latest\nCOPY big.bin /big.bin\nRUN ls -l /big.bin\n";
  std::filesystem::create_directories(work.path() + "/tree/data");
  std::ofstream(work.path() + "/tree/data/big.bin", std::ios::binary) << random_bytes(3 << 20, 2);
  const std::string tar = work.path() + "/big.tar";
  REQUIRE(hoist_test::run_program({"tar", "-C", work.path() + "/tree", "-cf", tar, "data"}).exit_code == 0);

  SECTION("build") {
    disk.fill_leaving(1 << 20);
    auto r = hoist.run({"build", "--progress", "plain", "-t", "full/build", work.path() + "/ctx"});
    check_disk_full_error(r, store);
    check_fsck_clean(hoist);
    disk.unfill();
    r = hoist.run({"build", "--progress", "plain", "-t", "full/build", work.path() + "/ctx"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    check_fsck_clean(hoist);
  }
  SECTION("import") {
    disk.fill_leaving(1 << 20);
    auto r = hoist.run({"import", tar, "full/import"});
    check_disk_full_error(r, store);
    check_fsck_clean(hoist);
    disk.unfill();
    r = hoist.run({"import", tar, "full/import"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    check_fsck_clean(hoist);
  }
  SECTION("pull") {
    if (hoist_test::run_program({"sh", "-c", "command -v docker-registry"}).exit_code != 0) {
      HOIST_SKIP("docker-registry is not installed (.ci/deps.sh --test installs it)");
    }
    hoist_test::RegistryServer registry(hoist_test::RegistryServer::Options{});
    REQUIRE(registry.started());
    const std::string name = registry.host() + "/full/pulled:1";
    HoistRunner source;
    REQUIRE(source.run({"import", tar, name}).exit_code == 0);
    REQUIRE(source.run({"push", "-q", name}).exit_code == 0);
    disk.fill_leaving(1 << 20);
    auto r = hoist.run({"pull", "-q", name});
    check_disk_full_error(r, store);
    check_fsck_clean(hoist);
    disk.unfill();
    r = hoist.run({"pull", "-q", name});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    check_fsck_clean(hoist);
  }
}
