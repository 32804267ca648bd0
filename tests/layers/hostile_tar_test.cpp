// Layers that try to write outside the directory they are unpacked into. Each tar is built
// here with libarchive, unpacked into OUTER/root, and OUTER is checked afterwards: apart
// from root/, it must be exactly as it was (the sentinel file unchanged, nothing new).

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "tests/layers/tree_compare.h"
#include "tests/support/files.h"

namespace fs = std::filesystem;

namespace {

// Builds a tar in memory, entry by entry, with no checks of its own.
class TarBuilder {
 public:
  TarBuilder() : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    archive_write_add_filter_none(a_);
    archive_write_set_bytes_in_last_block(a_, 1);
    archive_write_open2(a_, this, nullptr, &TarBuilder::write_cb, nullptr, nullptr);
  }
  ~TarBuilder() { archive_write_free(a_); }

  TarBuilder& file(const std::string& name, const std::string& content = "pwned") {
    return add(name, AE_IFREG, 0644, content, nullptr, nullptr);
  }
  TarBuilder& dir(const std::string& name) {
    return add(name, AE_IFDIR, 0755, "", nullptr, nullptr);
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    return add(name, AE_IFLNK, 0777, "", target.c_str(), nullptr);
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    return add(name, AE_IFREG, 0644, "", nullptr, target.c_str());
  }

  // Finishes the tar and returns it in an anonymous file, rewound.
  layers::UniqueFd finish() {
    archive_write_close(a_);
    return hoist_test::memfd_of(bytes_);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  TarBuilder& add(const std::string& name, mode_t type, mode_t perm, const std::string& content,
                  const char* symlink, const char* hardlink) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1600000000, 0);
    if (symlink) archive_entry_set_symlink(e, symlink);
    if (hardlink) archive_entry_set_hardlink(e, hardlink);
    archive_entry_set_size(e, la_int64_t(content.size()));
    REQUIRE(archive_write_header(a_, e) == ARCHIVE_OK);
    if (!content.empty()) archive_write_data(a_, content.data(), content.size());
    archive_entry_free(e);
    return *this;
  }
  static la_ssize_t write_cb(archive*, void* self, const void* buf, size_t n) {
    static_cast<TarBuilder*>(self)->bytes_.append(static_cast<const char*>(buf), n);
    return la_ssize_t(n);
  }

  archive* a_;
  std::string bytes_;
};

struct Hostile {
  std::string name;
  std::string offending_entry;  // must appear in the error message
  // Builds the tar; `outer` is the directory holding root/ and the sentinel.
  std::function<void(TarBuilder&, const std::string& outer)> build;
};

std::vector<Hostile> hostile_tars() {
  return {
      {"a dot-dot path", "../evil", [](TarBuilder& t, auto&) { t.file("../evil"); }},
      {"dot-dot in the middle", "a/../../evil",
       [](TarBuilder& t, auto&) { t.dir("a").file("a/../../evil"); }},
      {"an absolute path", "/evil-abs",
       [](TarBuilder& t, const std::string& outer) { t.file(outer + "/evil-abs"); }},
      {"a symlinked parent climbing out", "link/evil",
       [](TarBuilder& t, auto&) { t.symlink("link", "..").file("link/evil"); }},
      {"a symlinked parent that is absolute", "link/evil",
       [](TarBuilder& t, const std::string& outer) { t.symlink("link", outer).file("link/evil"); }},
      {"a symlinked parent climbing far", "link/tmp/evil",
       [](TarBuilder& t, auto&) {
         t.symlink("link", "../../../../../../../../..").file("link/tmp/evil");
       }},
      {"a chain of symlinks climbing out", "b/evil",
       [](TarBuilder& t, auto&) { t.symlink("a", "..").symlink("b", "a/").file("b/evil"); }},
      {"an absolute symlink climbing above the root", "a/evil",
       [](TarBuilder& t, auto&) { t.symlink("a", "/..").file("a/evil"); }},
      {"an absolute symlink to a dot-dot chain", "a/tmp/evil",
       [](TarBuilder& t, auto&) { t.dir("x").symlink("a", "/x/../../..").file("a/tmp/evil"); }},
      {"absolute and relative symlinks chained out", "c/evil",
       [](TarBuilder& t, auto&) {
         t.dir("d").symlink("d/up", "../..").symlink("c", "/d/up").file("c/evil");
       }},
      {"a symlink to a missing directory", "gone/evil",
       [](TarBuilder& t, auto&) { t.symlink("gone", "/nowhere").file("gone/evil"); }},
      {"a directory through a symlinked parent", "link/evil-dir/",
       [](TarBuilder& t, auto&) { t.symlink("link", "..").dir("link/evil-dir/"); }},
      {"a symlink through a symlinked parent", "link/evil-link",
       [](TarBuilder& t, auto&) { t.symlink("link", "..").symlink("link/evil-link", "x"); }},
      {"a hardlink to a dot-dot path", "h",
       [](TarBuilder& t, auto&) { t.hardlink("h", "../sentinel"); }},
      {"a hardlink to an absolute path", "h",
       [](TarBuilder& t, const std::string& outer) { t.hardlink("h", outer + "/sentinel"); }},
      {"a hardlink through a symlinked parent", "h",
       [](TarBuilder& t, auto&) { t.symlink("l", "..").hardlink("h", "l/sentinel"); }},
      {"a hardlink through an absolute symlink climbing out", "h",
       [](TarBuilder& t, auto&) { t.symlink("l", "/../..").hardlink("h", "l/sentinel"); }},
      {"a hardlink to the root", "h", [](TarBuilder& t, auto&) { t.hardlink("h", "."); }},
      {"a hardlink to a directory", "h",
       [](TarBuilder& t, auto&) { t.dir("d").hardlink("h", "d"); }},
      {"a whiteout of dot-dot", ".wh...", [](TarBuilder& t, auto&) { t.file(".wh..."); }},
      {"a whiteout of dot-dot in a subdirectory", "sub/.wh...",
       [](TarBuilder& t, auto&) { t.dir("sub").file("sub/.wh..."); }},
      {"a whiteout of dot", ".wh..", [](TarBuilder& t, auto&) { t.file(".wh.."); }},
      {"a whiteout through a symlinked parent", "l/.wh.sentinel",
       [](TarBuilder& t, auto&) { t.symlink("l", "..").file("l/.wh.sentinel"); }},
      {"an opaque whiteout through a symlinked parent", "l/.wh..wh..opq",
       [](TarBuilder& t, auto&) { t.symlink("l", "..").file("l/.wh..wh..opq"); }},
      {"a whiteout through an absolute symlink climbing out", "l/.wh.sentinel",
       [](TarBuilder& t, auto&) { t.symlink("l", "/..").file("l/.wh.sentinel"); }},
  };
}

std::vector<std::string> outside_root(const std::string& outer) {
  std::vector<std::string> lines;
  for (auto& line : tests::describe_tree(outer))
    if (!line.starts_with("root/") && !line.starts_with("root ")) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("hostile tars are refused and nothing outside the root is touched",
          "[layers][tar_apply][hostile]") {
  auto cases = hostile_tars();
  auto index = GENERATE_COPY(range(size_t(0), cases.size()));
  const Hostile& hostile = cases[index];
  CAPTURE(hostile.name);

  tests::TempDir outer("hoist-hostile");
  const std::string root = outer / "root";
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  std::ofstream(outer / "sentinel") << "safe";
  REQUIRE(::mkdir((outer / "tmp").c_str(), 0755) == 0);
  const auto before = outside_root(outer.path());

  TarBuilder tar;
  hostile.build(tar, outer.path());
  auto fd = tar.finish();
  auto r = layers::unpack_layer(root, fd.get());
  REQUIRE_FALSE(r);
  CAPTURE(r.error().describe());
  CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK(r.error().message().find(hostile.offending_entry + "\"") != std::string::npos);

  CHECK(outside_root(outer.path()) == before);
  std::ifstream sentinel(outer / "sentinel");
  std::string content((std::istreambuf_iterator<char>(sentinel)), std::istreambuf_iterator<char>());
  CHECK(content == "safe");
  CHECK_FALSE(fs::exists(fs::path("/tmp/evil")));
}

TEST_CASE("writing over a symlink replaces the symlink, never what it points at",
          "[layers][tar_apply][hostile]") {
  tests::TempDir outer("hoist-hostile");
  const std::string root = outer / "root";
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  std::ofstream(outer / "sentinel") << "safe";

  TarBuilder tar;
  tar.symlink("l", outer / "sentinel").file("l", "pwned");
  tar.symlink("m", "../sentinel").dir("m");
  tar.symlink("n", "../sentinel").hardlink("n2", "n");
  auto fd = tar.finish();
  auto r = layers::unpack_layer(root, fd.get());
  if (!r) FAIL(r.error().describe());

  std::ifstream sentinel(outer / "sentinel");
  std::string content((std::istreambuf_iterator<char>(sentinel)), std::istreambuf_iterator<char>());
  CHECK(content == "safe");
  CHECK(fs::is_regular_file(fs::symlink_status(root + "/l")));
  CHECK(fs::is_directory(fs::symlink_status(root + "/m")));
  // A hardlink to a symlink links the symlink itself.
  CHECK(fs::is_symlink(fs::symlink_status(root + "/n2")));
  CHECK(fs::read_symlink(root + "/n2") == "../sentinel");
}

namespace {

using hoist_test::read_file;

void unpack_or_fail(const std::string& root, TarBuilder& tar,
                    layers::WhiteoutMode mode = layers::WhiteoutMode::Apply) {
  auto fd = tar.finish();
  layers::UnpackOptions options;
  options.whiteouts = mode;
  auto r = layers::unpack_layer(root, fd.get(), options);
  if (!r) FAIL(r.error().describe());
}

}  // namespace

// Docker unpacks inside a chroot: an absolute symlink a lower layer made (Debian's
// var/run -> /run) leads to the image's /run, not the host's.
TEST_CASE("absolute symlinked parents resolve inside the root, as in a chroot",
          "[layers][tar_apply][hostile]") {
  tests::TempDir outer("hoist-chroot");
  const std::string root = outer / "root";
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  std::ofstream(outer / "sentinel") << "safe";
  const auto before = outside_root(outer.path());
  {
    TarBuilder lower;
    lower.dir("run").dir("var").symlink("var/run", "/run").dir("tmp").file("tmp/old", "old");
    lower.dir("usr").dir("usr/lib").dir("etc").symlink("usr/lib/conf", "../../etc");
    // The host's own /tmp, by absolute name: inside the root it is ROOT/tmp.
    lower.symlink("hosttmp", "/tmp");
    unpack_or_fail(root, lower);
  }
  TarBuilder upper;
  upper
      .file("var/run/pid", "42")  // through var/run -> /run
      .dir("var/run/sub/")        // a directory through it, parents made
      .file("var/run/sub/deep", "deep")
      .hardlink("var/run/again", "var/run/pid")  // a hardlink target through it
      .file("usr/lib/conf/app.conf", "x=1")      // a ".." chain that stays inside
      .file("hosttmp/evil", "inside")            // ROOT/tmp/evil, never /tmp/evil
      .file("hosttmp/.wh.old");                  // a whiteout through it
  unpack_or_fail(root, upper);

  CHECK(fs::is_symlink(fs::symlink_status(root + "/var/run")));
  CHECK(fs::read_symlink(root + "/var/run") == "/run");
  CHECK(read_file(root + "/run/pid") == "42");
  CHECK(read_file(root + "/run/sub/deep") == "deep");
  struct stat a, b;
  REQUIRE(::lstat((root + "/run/again").c_str(), &a) == 0);
  REQUIRE(::lstat((root + "/run/pid").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  CHECK(read_file(root + "/etc/app.conf") == "x=1");
  CHECK(read_file(root + "/tmp/evil") == "inside");
  CHECK_FALSE(fs::exists(fs::symlink_status(root + "/tmp/old")));
  CHECK_FALSE(fs::exists(fs::path("/tmp/evil")));
  CHECK(outside_root(outer.path()) == before);
  CHECK(read_file(outer / "sentinel") == "safe");
}

TEST_CASE("a layer unpacked alone for overlay resolves its own absolute symlinks inside it",
          "[layers][tar_apply][hostile]") {
  tests::TempDir outer("hoist-chroot");
  const std::string root = outer / "root";
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  const auto before = outside_root(outer.path());
  TarBuilder tar;
  tar.dir("run").symlink("varrun", "/run").file("varrun/pid", "7").file("varrun/.wh.gone");
  unpack_or_fail(root, tar, layers::WhiteoutMode::Overlay);
  CHECK(read_file(root + "/run/pid") == "7");
  struct stat st;
  REQUIRE(::lstat((root + "/run/gone").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(outside_root(outer.path()) == before);
}

TEST_CASE("a hardlink may name a lower layer's file", "[layers][tar_apply]") {
  tests::TempDir root;
  {
    TarBuilder lower;
    lower.dir("etc").file("etc/base", "base");
    auto fd = lower.finish();
    REQUIRE(layers::unpack_layer(root.path(), fd.get()));
  }
  TarBuilder upper;
  upper.hardlink("again", "etc/base").hardlink("./etc/third", "/etc/base");
  auto fd = upper.finish();
  auto r = layers::unpack_layer(root.path(), fd.get());
  // "/etc/base" is absolute: refused even though it names a file inside.
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("\"./etc/third\"") != std::string::npos);
  struct stat a, b;
  REQUIRE(::stat((root / "again").c_str(), &a) == 0);
  REQUIRE(::stat((root / "etc/base").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
}

TEST_CASE("damaged layers are Corrupt, not a crash", "[layers][tar_apply]") {
  tests::TempDir root;
  TarBuilder tar;
  tar.file("a", std::string(5000, 'a')).file("b", "b");
  tar.finish();
  std::string bytes = tar.bytes();
  auto [name, data] = GENERATE_COPY(table<std::string, std::string>({
      {"truncated in the data", bytes.substr(0, 1500)},
      {"garbage", std::string(2048, 'G')},
      {"a bad header checksum", std::string(bytes).replace(148, 8, "9999999\0", 8)},
  }));
  CAPTURE(name);
  auto fd = hoist_test::memfd_of(data);
  auto r = layers::unpack_layer(root.path(), fd.get());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == layers::ErrorKind::Corrupt);
}
