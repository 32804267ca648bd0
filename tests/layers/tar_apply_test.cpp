#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "layers/tar_apply.h"
#include "layers/tar_writer.h"
#include "layers/unique_fd.h"
#include "tests/layers/tree_compare.h"

using layers::Compression;
using layers::DiffEntry;
using tests::put_file;
using tests::set_mtime;
namespace fs = std::filesystem;

namespace {

void put_dir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
  ::mkdir(path.c_str(), 0700);
  REQUIRE(::lchown(path.c_str(), uid, gid) == 0);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

void put_symlink(const std::string& path, const std::string& target, int64_t mtime) {
  REQUIRE(::symlink(target.c_str(), path.c_str()) == 0);
  timespec t[2] = {{mtime, 0}, {mtime, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0);
}

// Writes the layer for `diff` into an anonymous file, rewound, ready to unpack.
layers::UniqueFd layer_file(const layers::TreeDiff& diff, const layers::WriteOptions& options,
                            layers::LayerDigests* digests = nullptr) {
  layers::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  REQUIRE(fd);
  auto d = layers::write_layer(diff, options, [&](std::span<const std::byte> b) {
    if (::write(fd.get(), b.data(), b.size()) != ssize_t(b.size()))
      return layers::Result<void>(layers::Error::from_errno("write"));
    return layers::Result<void>();
  });
  if (!d) FAIL(d.error().describe());
  if (digests) *digests = *d;
  REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
  return fd;
}

layers::Digest unpack(const std::string& root, const layers::UniqueFd& fd) {
  auto r = layers::unpack_layer(root, fd.get());
  if (!r) FAIL(r.error().describe());
  return *r;
}

// Every kind of entry, with owners, odd modes and xattrs.
void make_rich_tree(const std::string& root) {
  put_dir(root + "/bin", 0755);
  put_file(root + "/bin/sh", "#!/bin/busybox sh\n", 0755, 1600000000, 0, 0);
  REQUIRE(::link((root + "/bin/sh").c_str(), (root + "/bin/ash").c_str()) == 0);
  REQUIRE(::link((root + "/bin/sh").c_str(), (root + "/zz-link").c_str()) == 0);
  put_dir(root + "/home", 0755);
  put_dir(root + "/home/user", 0700, 1000, 1000);
  put_file(root + "/home/user/.profile", "export A=1\n", 0640, 1600000001, 1000, 1000);
  put_file(root + "/home/user/big", std::string(300000, 'x') + "end", 0600, 1600000002, 1000, 1000);
  put_file(root + "/home/user/h\xc3\xa9llo", "utf8 name", 0644, 1600000003, 3000000, 3000001);
  std::string long_name(150, 'n');
  put_file(root + "/home/user/" + long_name, "long name", 0644, 1600000004);
  set_mtime(root + "/home/user", 1500000000);
  put_dir(root + "/tmp", 01777);
  put_dir(root + "/srv", 02775, 0, 50);
  put_dir(root + "/empty", 0555);
  put_file(root + "/usr-bin-ping", "ping", 04755, 1600000005);
  const char cap[] =
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
  REQUIRE(::lsetxattr((root + "/usr-bin-ping").c_str(), "security.capability", cap, sizeof cap - 1,
                      0) == 0);
  REQUIRE(::lsetxattr((root + "/bin").c_str(), "user.dir-note", "d", 1, 0) == 0);
  REQUIRE(::lsetxattr((root + "/bin/sh").c_str(), "user.mime", "text/x-sh", 9, 0) == 0);
  put_symlink(root + "/dangling", "/no/such/file", 1600000006);
  put_symlink(root + "/relative", "bin/sh", 1600000007);
  put_symlink(root + "/long-target", std::string(200, 't'), 1600000008);
  put_dir(root + "/dev", 0755);
  REQUIRE(::mknod((root + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(::chmod((root + "/dev/null").c_str(), 0666) == 0);
  REQUIRE(::mknod((root + "/dev/loop9").c_str(), S_IFBLK | 0660, makedev(7, 9)) == 0);
  REQUIRE(::mkfifo((root + "/dev/fifo").c_str(), 0620) == 0);
  REQUIRE(::chmod((root + "/dev/fifo").c_str(), 0620) == 0);
  for (const char* p : {"/dev/null", "/dev/loop9", "/dev/fifo"}) set_mtime(root + p, 1600000009);
  for (const char* d : {"/bin", "/home", "/tmp", "/srv", "/empty", "/dev"})
    set_mtime(root + d, 1400000000);
}

}  // namespace

TEST_CASE("tar apply: tree -> layer -> apply gives the same tree", "[layers][tar_apply]") {
  auto c = GENERATE(Compression::None, Compression::Gzip, Compression::Zstd);
  CAPTURE(layers::compression_name(c));
  tests::TempDir src, dst;
  make_rich_tree(src.path());
  auto diff = layers::diff_of_directory(src.path());
  REQUIRE(diff);
  layers::LayerDigests written{.diff_id = layers::Digest::of(""), .digest = layers::Digest::of("")};
  auto fd = layer_file(*diff, {.compression = c}, &written);
  auto diff_id = unpack(dst.path(), fd);
  CHECK(diff_id == written.diff_id);
  auto differences = tests::compare_trees(src.path(), dst.path());
  CHECK(differences == std::vector<std::string>{});
  // The comparison sees what matters (this test can fail).
  REQUIRE(::chmod((dst / "home/user/.profile").c_str(), 0600) == 0);
  CHECK(tests::compare_trees(src.path(), dst.path()).size() == 1);
}

TEST_CASE("tar apply: whiteouts delete and opaque dirs hide what lower layers had",
          "[layers][tar_apply]") {
  tests::TempDir lower, upper, dst;
  // Lower layer.
  put_dir(lower / "a", 0755);
  put_file(lower / "a/x", "x", 0644, 1);
  put_dir(lower / "a/-dir", 0755);
  put_file(lower / "a/-dir/old", "old", 0644, 1);
  put_dir(lower / "a/sub", 0755);
  put_file(lower / "a/sub/deep", "deep", 0644, 1);
  put_dir(lower / "b", 0755);
  put_file(lower / "b/z", "z", 0644, 1);
  put_file(lower / "b/stay", "stay", 0644, 1);
  put_dir(lower / "c", 0755);
  put_file(lower / "c/1", "1", 0644, 1);
  put_file(lower / "keep", "keep", 0644, 1);
  put_dir(lower / "p", 0755);
  put_file(lower / "p/inner", "inner", 0644, 1);
  put_file(lower / "q", "q", 0644, 1);
  put_dir(lower / "m", 0755);
  put_file(lower / "m/old", "old", 0644, 1);
  auto lower_diff = layers::diff_of_directory(lower.path());
  REQUIRE(lower_diff);
  unpack(dst.path(), layer_file(*lower_diff, {.compression = Compression::Gzip}));

  // Upper layer: "a" is opaque, keeping what this layer wrote in it, including entries
  // that sort before the ".wh..wh..opq" marker ("-early", "-dir/new").
  put_dir(upper / "a", 0750);
  put_file(upper / "a/-early", "early", 0644, 2);
  put_dir(upper / "a/-dir", 0755);
  put_file(upper / "a/-dir/new", "new", 0644, 2);
  put_file(upper / "a/late", "late", 0644, 2);
  put_file(upper / "p", "p is a file now", 0644, 2);
  put_dir(upper / "q", 0755);
  put_file(upper / "q/f", "q is a dir now", 0644, 2);
  put_dir(upper / "m", 0700);
  put_file(upper / "m/new", "merged", 0644, 2);
  layers::TreeDiff upper_diff{.source_root = upper.path(),
                              .entries = {{"a"},
                                          {"a", DiffEntry::Kind::Opaque},
                                          {"a/-early"},
                                          {"a/-dir"},
                                          {"a/-dir/new"},
                                          {"a/late"},
                                          {"b/z", DiffEntry::Kind::Delete},
                                          {"c", DiffEntry::Kind::Delete},
                                          {"never/existed", DiffEntry::Kind::Delete},
                                          {"p"},
                                          {"q"},
                                          {"q/f"},
                                          {"m"},
                                          {"m/new"}}};
  unpack(dst.path(), layer_file(upper_diff, {.compression = Compression::Zstd}));

  auto [path, should_exist] = GENERATE(table<std::string, bool>({
      {"a/x", false},
      {"a/sub", false},
      {"a/-dir/old", false},
      {"a/-dir/new", true},
      {"a/-early", true},
      {"a/late", true},
      {"b/z", false},
      {"b/stay", true},
      {"c", false},
      {"keep", true},
      {"never", false},
      {"p/inner", false},
      {"q/f", true},
      {"m/old", true},
      {"m/new", true},
  }));
  CAPTURE(path);
  std::error_code ec;
  CHECK(fs::exists(fs::symlink_status(dst / path, ec)) == should_exist);
  CHECK(fs::is_regular_file(fs::symlink_status(dst / "p", ec)));
  CHECK((fs::status(dst / "m", ec).permissions() & fs::perms::all) == fs::perms::owner_all);
}

TEST_CASE(
    "tar apply: a missing parent is created, a symlinked parent inside the root is "
    "followed",
    "[layers][tar_apply]") {
  tests::TempDir lower, upper, dst;
  put_dir(lower / "usr", 0755);
  put_dir(lower / "usr/lib", 0755);
  put_symlink(lower / "lib", "usr/lib", 1);
  put_file(lower / "base", "base", 0644, 1);
  auto lower_diff = layers::diff_of_directory(lower.path());
  REQUIRE(lower_diff);
  unpack(dst.path(), layer_file(*lower_diff, {.compression = Compression::None}));

  put_dir(upper / "lib", 0755);
  put_file(upper / "lib/libx.so", "elf", 0755, 1);
  put_dir(upper / "deep", 0755);
  put_dir(upper / "deep/er", 0755);
  put_file(upper / "deep/er/file", "d", 0644, 1);
  layers::TreeDiff upper_diff{.source_root = upper.path(),
                              .entries = {{"lib/libx.so"}, {"deep/er/file"}}};
  unpack(dst.path(), layer_file(upper_diff, {.compression = Compression::Gzip}));
  CHECK(fs::is_symlink(dst / "lib"));
  CHECK(fs::is_regular_file(dst / "usr/lib/libx.so"));
  CHECK(fs::is_regular_file(dst / "deep/er/file"));
}
