#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "layers/tree_index.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using layers::DiffEntry;

namespace {

// The shared temp dir (tests/support/temp_dir.h), under the name and `path` this file uses.
struct Scratch {
  hoist_test::TempDir dir{"hoist-tree-index"};
  const std::string& path = dir.path();
};

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::trunc) << text;
}

using Entry = std::pair<std::string, DiffEntry::Kind>;
constexpr auto Add = DiffEntry::Kind::AddOrChange;
constexpr auto Del = DiffEntry::Kind::Delete;

std::vector<Entry> entries_of(const layers::TreeDiff& diff) {
  std::vector<Entry> out;
  for (const auto& e : diff.entries) out.emplace_back(e.path, e.kind);
  return out;
}

// Copies the mtime of `from` onto `to`, as `touch -r` does.
void copy_mtime(const std::string& from, const std::string& to) {
  fs::last_write_time(to, fs::last_write_time(from));
}

}  // namespace

TEST_CASE("tree index: an untouched tree has an empty diff", "[layers][tree_index]") {
  Scratch s;
  write_file(s.path + "/root/etc/passwd", "root\n");
  fs::create_symlink("passwd", s.path + "/root/etc/link");
  auto index = layers::TreeIndex::snapshot(s.path + "/root");
  REQUIRE(index);
  CHECK(index->entries().size() == 3);
  REQUIRE(index->find("etc/link"));
  CHECK(index->find("etc/link")->link_target == "passwd");
  auto diff = layers::diff_against_index(*index);
  REQUIRE(diff);
  CHECK(diff->entries.empty());
}

TEST_CASE("tree index: changes are found like Docker's naive differ", "[layers][tree_index]") {
  Scratch s;
  const std::string r = s.path + "/root";
  write_file(r + "/etc/motd", "hi\n");
  write_file(r + "/etc/keep", "keep\n");
  write_file(r + "/usr/bin/tool", "v1\n");
  write_file(r + "/var/cache/a/b", "b\n");
  write_file(r + "/mode", "m\n");
  fs::create_symlink("old", r + "/link");
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);

  fs::remove(r + "/etc/motd");                        // Delete
  write_file(r + "/usr/bin/tool", "version 2\n");     // size changes
  fs::remove_all(r + "/var/cache");                   // one Delete for the whole dir
  fs::permissions(r + "/mode", fs::perms::owner_all); // mode changes
  fs::remove(r + "/link");
  fs::create_symlink("new", r + "/link");             // target changes
  write_file(r + "/new/dir/file", "n\n");             // added, with its parents
  write_file(r + "/etc/tmp", "t");                    // created and removed again:
  fs::remove(r + "/etc/tmp");                         // /etc's mtime alone is no change

  auto diff = layers::diff_against_index(*index);
  REQUIRE(diff);
  CHECK(diff->source_root == r);
  CHECK(entries_of(*diff) == std::vector<Entry>{
                                 {"etc", Add},
                                 {"etc/motd", Del},
                                 {"link", Add},
                                 {"mode", Add},
                                 {"new", Add},
                                 {"new/dir", Add},
                                 {"new/dir/file", Add},
                                 {"usr", Add},
                                 {"usr/bin", Add},
                                 {"usr/bin/tool", Add},
                                 {"var", Add},
                                 {"var/cache", Del},
                             });
}

TEST_CASE("tree index: doubtful files are settled by content", "[layers][tree_index]") {
  // Same size and mtime, but the inode or ctime moved: only the bytes can tell.
  auto [new_text, changed_with_original] = GENERATE(table<std::string, bool>({
      {"same", false},
      {"diff", true},
  }));
  CAPTURE(new_text);
  Scratch s;
  const std::string r = s.path + "/root", original = s.path + "/original";
  write_file(r + "/f", "same");
  write_file(original + "/f", "same");
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);

  write_file(r + "/f.tmp", new_text);
  copy_mtime(r + "/f", r + "/f.tmp");
  fs::rename(r + "/f.tmp", r + "/f");  // a new inode with the old size and mtime

  auto with_original = layers::diff_against_index(*index, original);
  REQUIRE(with_original);
  CHECK(!with_original->entries.empty() == changed_with_original);
  auto without = layers::diff_against_index(*index);
  REQUIRE(without);
  CHECK(entries_of(*without) == std::vector<Entry>{{"f", Add}});
}

TEST_CASE("tree index: a missing root is NotFound", "[layers][tree_index]") {
  auto index = layers::TreeIndex::snapshot("/nonexistent/hoist/root");
  REQUIRE_FALSE(index);
  CHECK(index.error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("tree index: a directory that became a file takes its children with it",
          "[layers][tree_index]") {
  Scratch s;
  const std::string r = s.path + "/root";
  write_file(r + "/d/a", "a\n");
  write_file(r + "/d/sub/b", "b\n");
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);
  fs::remove_all(r + "/d");
  write_file(r + "/d", "now a file\n");
  auto diff = layers::diff_against_index(*index);
  REQUIRE(diff);
  // No whiteouts inside a file: the file itself replaces the directory.
  CHECK(entries_of(*diff) == std::vector<Entry>{{"d", Add}});
}

TEST_CASE("tree index: a replaced directory is opaque, with everything in it, as overlay makes it",
          "[layers][tree_index]") {
  Scratch s;
  const std::string r = s.path + "/root";
  write_file(r + "/f", "a file\n");
  write_file(r + "/d/old", "old\n");
  write_file(r + "/d/same", "same\n");
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);
  const auto old_d_ino = index->find("d")->ino;
  fs::remove(r + "/f");
  write_file(r + "/f/x", "x\n");  // a file became a directory
  // A directory with a new inode: keep the old one alive so the inode cannot be reused.
  fs::rename(r + "/d", s.path + "/old-d");
  write_file(r + "/d/same", "same\n");
  auto diff = layers::diff_against_index(*index);
  REQUIRE(diff);
  constexpr auto Opq = DiffEntry::Kind::Opaque;
  REQUIRE(fs::exists(r + "/d"));
  struct stat st;
  REQUIRE(::lstat((r + "/d").c_str(), &st) == 0);
  REQUIRE(st.st_ino != old_d_ino);
  CHECK(entries_of(*diff) == std::vector<Entry>{
                                 {"d", Add},
                                 {"d", Opq},
                                 {"d/same", Add},
                                 {"f", Add},
                                 {"f", Opq},
                                 {"f/x", Add},
                             });
}

TEST_CASE("tree index: hard links", "[layers][tree_index]") {
  Scratch s;
  const std::string r = s.path + "/root";
  write_file(r + "/base", "base\n");
  write_file(r + "/pair/a", "pair\n");
  fs::create_hard_link(r + "/pair/a", r + "/pair/b");
  write_file(r + "/touched", "t\n");
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);
  fs::create_hard_link(r + "/base", r + "/new-link");  // base must come along to keep the link
  fs::remove(r + "/pair/b");                           // a only lost a name: unchanged
  REQUIRE(::setxattr((r + "/touched").c_str(), "user.test", "1", 1, 0) == 0);  // ctime only
  auto diff = layers::diff_and_reindex(*index);
  REQUIRE(diff);
  CHECK(entries_of(diff->diff) == std::vector<Entry>{
                                      {"base", Add},
                                      {"new-link", Add},
                                      {"pair", Add},
                                      {"pair/b", Del},
                                      {"touched", Add},
                                  });
  // The index handed back is the tree as it is now: diffing against it finds nothing.
  auto again = layers::diff_against_index(diff->after);
  REQUIRE(again);
  CHECK(again->entries.empty());
}

TEST_CASE("tree index: ignored paths are never reported, and add no parents",
          "[layers][tree_index]") {
  Scratch s;
  const std::string root = s.path + "/root";
  write_file(root + "/etc/hosts", "image\n");
  write_file(root + "/etc/passwd", "root\n");
  auto index = layers::TreeIndex::snapshot(root);
  REQUIRE(index);
  // What a chroot sandbox does: sets the file aside, writes its own, puts the original back
  // (same inode, mtime and size, but the ctime moved); and one created then deleted.
  REQUIRE(::rename((root + "/etc/hosts").c_str(), (s.path + "/saved").c_str()) == 0);
  write_file(root + "/etc/hosts", "sandbox's\n");
  write_file(root + "/etc/resolv.conf", "nameserver 127.0.0.1\n");
  REQUIRE(::unlink((root + "/etc/hosts").c_str()) == 0);
  REQUIRE(::rename((s.path + "/saved").c_str(), (root + "/etc/hosts").c_str()) == 0);
  write_file(root + "/new", "n\n");

  // etc/hosts put back as it was (same inode and metadata) is no change even unignored.
  auto plain = layers::diff_and_reindex(*index);
  REQUIRE(plain);
  CHECK(entries_of(plain->diff) ==
        std::vector<Entry>{{"etc", Add}, {"etc/resolv.conf", Add}, {"new", Add}});
  auto ignoring = layers::diff_and_reindex(*index, {}, {"etc/hosts", "etc/resolv.conf"});
  REQUIRE(ignoring);
  CHECK(entries_of(ignoring->diff) == std::vector<Entry>{{"new", Add}});
  // Deleting an ignored path is not reported either.
  REQUIRE(::unlink((root + "/etc/hosts").c_str()) == 0);
  auto deleted = layers::diff_and_reindex(*index, {}, {"etc/hosts", "etc/resolv.conf"});
  REQUIRE(deleted);
  CHECK(entries_of(deleted->diff) == std::vector<Entry>{{"new", Add}});
}

TEST_CASE("tree index: touched in place and left as it was is no change", "[layers][tree_index]") {
  // The same rule the overlay executor applies to copy-ups (layers/same_entry.h): every
  // piece of metadata a layer records is compared, the ctime is not.
  auto [touch, is_change] = GENERATE(table<std::string, bool>({
      {"chmod-same", false},
      {"chown-same", false},
      {"utimes-same", false},
      {"xattr-set-and-removed", false},
      {"chmod-other", true},
      {"utimes-other", true},
      {"xattr-set", true},
  }));
  CAPTURE(touch);
  Scratch s;
  const std::string r = s.path + "/root", f = r + "/dir/f";
  write_file(f, "f\n");
  REQUIRE(::chmod(f.c_str(), 0644) == 0);
  auto index = layers::TreeIndex::snapshot(r);
  REQUIRE(index);
  const auto mtime = fs::last_write_time(f);
  if (touch == "chmod-same") REQUIRE(::chmod(f.c_str(), 0644) == 0);
  if (touch == "chown-same") REQUIRE(::chown(f.c_str(), ::getuid(), ::getgid()) == 0);
  if (touch == "utimes-same") fs::last_write_time(f, mtime);
  if (touch == "xattr-set-and-removed") {
    REQUIRE(::setxattr(f.c_str(), "user.t", "1", 1, 0) == 0);
    REQUIRE(::removexattr(f.c_str(), "user.t") == 0);
  }
  if (touch == "chmod-other") REQUIRE(::chmod(f.c_str(), 0600) == 0);
  if (touch == "utimes-other") fs::last_write_time(f, mtime + std::chrono::seconds(1));
  if (touch == "xattr-set") REQUIRE(::setxattr(f.c_str(), "user.t", "1", 1, 0) == 0);
  auto diff = layers::diff_against_index(*index);
  REQUIRE(diff);
  CHECK(entries_of(*diff) ==
        (is_change ? std::vector<Entry>{{"dir", Add}, {"dir/f", Add}} : std::vector<Entry>{}));
}
