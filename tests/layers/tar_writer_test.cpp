#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "layers/tar_writer.h"
#include "tests/layers/tree_compare.h"

using layers::Compression;
using layers::DiffEntry;
using tests::put_file;
using tests::set_mtime;

namespace {

void put_dir(const std::string& path, mode_t mode, int64_t mtime) {
  ::mkdir(path.c_str(), mode);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  timespec t[2] = {{mtime, 0}, {mtime, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0);
}

struct Layer {
  layers::LayerDigests digests;
  std::string bytes;
};

Layer write(const layers::TreeDiff& diff, const layers::WriteOptions& options) {
  Layer layer{.digests = {.diff_id = layers::Digest::of(""), .digest = layers::Digest::of("")}};
  auto d = layers::write_layer(diff, options, [&](std::span<const std::byte> b) {
    layer.bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    return layers::Result<void>();
  });
  if (!d) FAIL(d.error().describe());
  layer.digests = *d;
  return layer;
}

// Every entry of a (possibly compressed) tar as one line:
//   name|type|perm|uid:gid|uname|gname|mtime|extra
std::vector<std::string> list_tar(const std::string& bytes) {
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_zstd(a);
  REQUIRE(archive_read_open_memory(a, bytes.data(), bytes.size()) == ARCHIVE_OK);
  std::vector<std::string> out;
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string line = archive_entry_pathname(e);
    char type = archive_entry_hardlink(e) ? 'h' : "?fdlcbp"[0];
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        type = archive_entry_hardlink(e) ? 'h' : 'f';
        break;
      case AE_IFDIR:
        type = 'd';
        break;
      case AE_IFLNK:
        type = 'l';
        break;
      case AE_IFCHR:
        type = 'c';
        break;
      case AE_IFIFO:
        type = 'p';
        break;
    }
    char perm[8];
    std::snprintf(perm, sizeof perm, "%04o", unsigned(archive_entry_perm(e)));
    line += std::string("|") + type + "|" + perm + "|" + std::to_string(archive_entry_uid(e)) +
            ":" + std::to_string(archive_entry_gid(e)) + "|" +
            (archive_entry_uname(e) ? archive_entry_uname(e) : "") + "|" +
            (archive_entry_gname(e) ? archive_entry_gname(e) : "") + "|" +
            std::to_string(archive_entry_mtime(e)) + "|";
    if (archive_entry_hardlink(e)) line += std::string("=> ") + archive_entry_hardlink(e);
    if (type == 'l') line += std::string("-> ") + archive_entry_symlink(e);
    if (type == 'f') line += "size=" + std::to_string(archive_entry_size(e));
    if (type == 'c')
      line += "dev=" + std::to_string(archive_entry_rdevmajor(e)) + "," +
              std::to_string(archive_entry_rdevminor(e));
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
      line +=
          std::string(" xattr:") + name + "=" + std::string(static_cast<const char*>(value), size);
    out.push_back(line);
  }
  archive_read_free(a);
  return out;
}

constexpr int64_t kEpoch = 1700000000;

// A small tree with one of everything, every mtime after kEpoch except old.txt's.
void make_sample_tree(const std::string& root, int64_t mtime) {
  put_dir(root + "/bin", 0755, mtime);
  put_file(root + "/bin/sh", "echo", 0755, mtime, 1000, 1001);
  REQUIRE(::link((root + "/bin/sh").c_str(), (root + "/a-link").c_str()) == 0);
  REQUIRE(::link((root + "/bin/sh").c_str(), (root + "/bin/sh-link").c_str()) == 0);
  put_dir(root + "/etc", 0700, mtime);
  put_file(root + "/etc/old.txt", "old", 0644, 1000000000);
  REQUIRE(::symlink("/etc/issue", (root + "/etc/motd").c_str()) == 0);
  set_mtime(root + "/etc/motd", mtime);
  put_file(root + "/etc/caps", "x", 04755, mtime);
  const char cap[] =
      "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
  REQUIRE(::lsetxattr((root + "/etc/caps").c_str(), "security.capability", cap, sizeof cap - 1,
                      0) == 0);
  REQUIRE(::lsetxattr((root + "/etc/caps").c_str(), "user.note", "hi", 2, 0) == 0);
  REQUIRE(::lsetxattr((root + "/etc/caps").c_str(), "trusted.overlay.origin", "x", 1, 0) == 0);
  REQUIRE(::mknod((root + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(::chmod((root + "/null").c_str(), 0666) == 0);
  set_mtime(root + "/null", mtime);
  REQUIRE(::mkfifo((root + "/fifo").c_str(), 0600) == 0);
  set_mtime(root + "/fifo", mtime);
}

layers::TreeDiff sample_diff(const std::string& root) {
  auto diff = layers::diff_of_directory(root);
  REQUIRE(diff);
  diff->entries.push_back({"gone/file", DiffEntry::Kind::Delete});
  diff->entries.push_back({"top", DiffEntry::Kind::Delete});
  diff->entries.push_back({"etc", DiffEntry::Kind::Opaque});
  return *diff;
}

}  // namespace

TEST_CASE("tar writer: entries are sorted, numeric-owned, clamped, linked and whited out",
          "[layers][tar_writer]") {
  tests::TempDir src;
  make_sample_tree(src.path(), 1800000000);
  auto layer = write(sample_diff(src.path()),
                     {.compression = Compression::Gzip, .source_date_epoch = kEpoch});
  const std::string e = std::to_string(kEpoch);
  const std::string caps_xattrs =
      " xattr:security.capability=" +
      std::string(
          "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20) +
      " xattr:user.note=hi";
  std::vector<std::string> expected = {
      "a-link|f|0755|1000:1001|||" + e + "|size=4",
      "bin/|d|0755|0:0|||" + e + "|",
      "bin/sh|h|0755|1000:1001|||" + e + "|=> a-link",
      "bin/sh-link|h|0755|1000:1001|||" + e + "|=> a-link",
      "etc/|d|0700|0:0|||" + e + "|",
      "etc/.wh..wh..opq|f|0000|0:0|||0|size=0",
      "etc/caps|f|4755|0:0|||" + e + "|size=1" + caps_xattrs,
      "etc/motd|l|0777|0:0|||" + e + "|-> /etc/issue",
      "etc/old.txt|f|0644|0:0|||1000000000|size=3",
      "fifo|p|0600|0:0|||" + e + "|",
      "gone/.wh.file|f|0000|0:0|||0|size=0",
      "null|c|0666|0:0|||" + e + "|dev=1,3",
      ".wh.top|f|0000|0:0|||0|size=0",
  };
  // Byte order: ".wh.top" sorts first ('.' < 'a').
  std::rotate(expected.rbegin(), expected.rbegin() + 1, expected.rend());
  CHECK(list_tar(layer.bytes) == expected);
}

TEST_CASE("tar writer: the same tree gives the same bytes under SOURCE_DATE_EPOCH",
          "[layers][tar_writer]") {
  auto c = GENERATE(Compression::None, Compression::Gzip, Compression::Zstd);
  CAPTURE(layers::compression_name(c));
  // Different temp dirs, different mtimes (all after the epoch), different creation order.
  tests::TempDir one, two;
  make_sample_tree(one.path(), 1800000000);
  for (const char* name : {"z", "m", "a"}) put_file(one / name, name, 0644, 1900000000);
  for (const char* name : {"a", "m", "z"}) put_file(two / name, name, 0644, 1750000000);
  make_sample_tree(two.path(), 1850000000);

  layers::WriteOptions options{.compression = c, .source_date_epoch = kEpoch, .threads = 1};
  auto first = write(sample_diff(one.path()), options);
  options.threads = 2;
  auto second = write(sample_diff(two.path()), options);
  CHECK(first.digests.diff_id == second.digests.diff_id);
  CHECK(first.digests.digest == second.digests.digest);
  CHECK(first.bytes == second.bytes);

  // Without the epoch the mtimes show, so the layers differ (this test can fail).
  auto unclamped_one = write(sample_diff(one.path()), {.compression = c});
  auto unclamped_two = write(sample_diff(two.path()), {.compression = c});
  CHECK(unclamped_one.digests.diff_id != unclamped_two.digests.diff_id);
}

TEST_CASE("tar writer: digests describe the bytes given to the sink", "[layers][tar_writer]") {
  tests::TempDir src;
  make_sample_tree(src.path(), 1800000000);
  auto gz = write(sample_diff(src.path()), {.compression = Compression::Gzip});
  auto plain = write(sample_diff(src.path()), {.compression = Compression::None});
  CHECK(gz.digests.digest == layers::Digest::of(gz.bytes));
  CHECK(gz.digests.size == gz.bytes.size());
  CHECK(plain.digests.digest == layers::Digest::of(plain.bytes));
  CHECK(plain.digests.diff_id == plain.digests.digest);
  CHECK(gz.digests.diff_id == plain.digests.diff_id);
  CHECK(gz.digests.uncompressed_size == plain.bytes.size());
}

TEST_CASE("tar writer: the tar ends after its end marker, unpadded", "[layers][tar_writer]") {
  tests::TempDir src;
  put_file(src / "f", "x", 0644, 1);
  auto plain =
      write({.source_root = src.path(), .entries = {{"f"}}}, {.compression = Compression::None});
  // One header, one data block, two zero blocks; not padded to a 10 KiB record.
  CHECK(plain.bytes.size() == 4 * 512);
}

TEST_CASE("tar writer: unclean diff paths are refused", "[layers][tar_writer]") {
  auto path =
      GENERATE(as<std::string>{}, "", "/etc/passwd", "a/../b", "./a", "a//b", "a/", "..", ".");
  CAPTURE(path);
  tests::TempDir src;
  layers::TreeDiff diff{.source_root = src.path(), .entries = {{path}}};
  auto r = layers::write_layer(diff, {},
                               [](std::span<const std::byte>) { return layers::Result<void>(); });
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
}

TEST_CASE("tar writer: a symlinked parent in the source is not followed", "[layers][tar_writer]") {
  tests::TempDir src, outside;
  put_file(outside / "secret", "s", 0600, 1);
  REQUIRE(::symlink(outside.path().c_str(), (src / "link").c_str()) == 0);
  layers::TreeDiff diff{.source_root = src.path(), .entries = {{"link/secret"}}};
  auto r = layers::write_layer(diff, {},
                               [](std::span<const std::byte>) { return layers::Result<void>(); });
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK(r.error().message().find("link/secret") != std::string::npos);
}

TEST_CASE("tar writer: a missing source entry is NotFound", "[layers][tar_writer]") {
  tests::TempDir src;
  layers::TreeDiff diff{.source_root = src.path(), .entries = {{"nope"}}};
  auto r = layers::write_layer(diff, {},
                               [](std::span<const std::byte>) { return layers::Result<void>(); });
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == layers::ErrorKind::NotFound);
  CHECK(r.error().message().find("\"nope\"") != std::string::npos);
}

TEST_CASE("tar writer: SOURCE_DATE_EPOCH from the environment", "[layers][tar_writer]") {
  auto [value, expected, is_ok] = GENERATE(table<std::string, int64_t, bool>({
      {"", -1, true},
      {"0", 0, true},
      {"1700000000", 1700000000, true},
      {"-5", 0, false},
      {"+5", 0, false},
      {"12abc", 0, false},
      {"1.5", 0, false},
      {"99999999999999999999999", 0, false},
  }));
  CAPTURE(value);
  ::setenv("SOURCE_DATE_EPOCH", value.c_str(), 1);
  auto r = layers::source_date_epoch_from_env();
  ::unsetenv("SOURCE_DATE_EPOCH");
  REQUIRE(r.has_value() == is_ok);
  if (!is_ok) {
    CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
  } else if (expected < 0) {
    CHECK_FALSE(r->has_value());
  } else {
    CHECK(**r == expected);
  }
}

TEST_CASE("tar writer: GNU tar extracts our layer to the same tree", "[layers][tar_writer]") {
  tests::TempDir src, out, files;
  make_sample_tree(src.path(), 1800000000);
  auto diff = layers::diff_of_directory(src.path());
  REQUIRE(diff);
  auto layer = write(*diff, {.compression = Compression::Gzip});
  const std::string tar_path = files / "layer.tar.gz";
  std::ofstream(tar_path, std::ios::binary) << layer.bytes;
  std::string cmd = "tar -xzf " + tar_path + " -C " + out.path() +
                    " --numeric-owner --warning=no-timestamp --xattrs --xattrs-include='user.*'"
                    " --xattrs-include=security.capability";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(tests::compare_trees(src.path(), out.path()) == std::vector<std::string>{});
}

namespace {

// The entries of the regular files `names` below `dir` as write_given_layer takes them,
// read from the tree.
std::vector<layers::GivenEntry> given_from(const std::string& dir, const std::vector<std::string>& names) {
  std::vector<layers::GivenEntry> out;
  for (const auto& name : names) {
    layers::GivenEntry e{name};
    REQUIRE(::lstat((dir + "/" + name).c_str(), &e.st) == 0);
    out.push_back(e);
  }
  return out;
}

layers::Result<Layer> write_given(const std::vector<layers::GivenEntry>& entries, const layers::DataOpener& open) {
  Layer layer{.digests = {.diff_id = layers::Digest::of(""), .digest = layers::Digest::of("")}};
  auto d = layers::write_given_layer(entries, open, {.compression = Compression::None}, [&](std::span<const std::byte> b) {
    layer.bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    return layers::Result<void>();
  });
  if (!d) return std::move(d).error();
  layer.digests = *d;
  return layer;
}

}  // namespace

TEST_CASE("tar writer: given entries make the tar of a tree holding them", "[layers][tar_writer]") {
  // Sizes around the read-ahead's 256 KiB chunks (an exact fill takes a probe read), and
  // many small files, whose bytes are read in a thread of their own.
  tests::TempDir src;
  std::vector<std::string> names;
  const size_t sizes[] = {0, 1, 262143, 262144, 262145, 600000};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    std::string name = "big" + std::to_string(i);
    put_file(src / name, std::string(sizes[i], char('a' + i)), 0640, 1000 + int64_t(i));
    names.push_back(name);
  }
  for (int i = 0; i < 300; ++i) {
    std::string name = "small" + std::to_string(1000 + i);
    put_file(src / name, std::string(size_t(i * 7), 'x') + std::to_string(i), 0600, 5);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  layers::TreeDiff diff{.source_root = src.path()};
  for (const auto& n : names) diff.entries.push_back({n});
  auto from_tree = write(diff, {.compression = Compression::None});
  auto entries = given_from(src.path(), names);
  auto given = write_given(entries, [&](size_t i) -> layers::Result<layers::UniqueFd> {
    layers::UniqueFd fd(::open((src / entries[i].path).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return layers::Error::from_errno("opening " + entries[i].path);
    return fd;
  });
  REQUIRE(given);
  CHECK(given->bytes == from_tree.bytes);
  CHECK(given->digests.diff_id == from_tree.digests.diff_id);
}

TEST_CASE("tar writer: a given file that grew, shrank or vanished fails the layer naming it", "[layers][tar_writer]") {
  tests::TempDir src;
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const auto& n : names) put_file(src / n, "12345", 0644, 1);
  auto entries = given_from(src.path(), names);
  entries[3].st.st_size = 0;  // an empty file at the end: its failure comes after every byte
  auto [victim, change, message] = GENERATE(table<size_t, std::string, std::string>({
      {1, "1234567", "\"b\" grew while being read"},
      {2, "12", "\"c\" shrank while being read"},
      {3, "vanish", "opening d"},
  }));
  CAPTURE(victim, change);
  if (change == "vanish") REQUIRE(::unlink((src / names[victim]).c_str()) == 0);
  else put_file(src / names[victim], change, 0644, 1);
  auto given = write_given(entries, [&](size_t i) -> layers::Result<layers::UniqueFd> {
    layers::UniqueFd fd(::open((src / entries[i].path).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return layers::Error::from_errno("opening " + entries[i].path);
    return fd;
  });
  REQUIRE_FALSE(given);
  CHECK_THAT(given.error().message(), Catch::Contains(message));
}

TEST_CASE("tar writer: given entries out of order are refused", "[layers][tar_writer]") {
  std::vector<layers::GivenEntry> entries(2);
  entries[0].path = "b";
  entries[1].path = "a";
  entries[0].st.st_mode = entries[1].st.st_mode = S_IFDIR | 0755;
  auto given = write_given(entries, [](size_t) -> layers::Result<layers::UniqueFd> { return layers::UniqueFd(); });
  REQUIRE_FALSE(given);
  CHECK(given.error().kind() == layers::ErrorKind::InvalidInput);
}

TEST_CASE("tar writer: a layer leaves libarchive in big pieces, and its bytes stay the same",
          "[layers][tar_writer]") {
  tests::TempDir src;
  std::string big(3000000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char("hoist-bench-layer\n"[i % 18]);
  put_file(src / "big", big, 0644, 1900000000);
  put_file(src / "mid", big.substr(0, 700000), 0600, 1900000000);
  put_file(src / "small", "x", 0644, 1900000000);
  size_t calls = 0;
  std::string bytes;
  auto d = layers::write_layer({.source_root = src.path(), .entries = {{"big"}, {"mid"}, {"small"}}},
                               {.compression = Compression::None, .source_date_epoch = kEpoch},
                               [&](std::span<const std::byte> b) {
                                 ++calls;
                                 bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
                                 return layers::Result<void>();
                               });
  REQUIRE(d);
  // 3.7 MB in 256 KiB pieces: 15 calls of the sink, not one per 10 KiB record (362).
  CHECK(calls <= 16);
  CHECK(bytes.size() == 3703808);
  // The digest of this tar as hoist wrote it with libarchive's 10 KiB records (before the
  // pieces grew): a cache key and an image digest must not change with the piece size.
  CHECK(d->diff_id.str() == "sha256:6e85cbae2cb7c2083422caf7b4001429445526f345eabaa8632b80c3897e7f78");
}
