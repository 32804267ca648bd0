// A COPY's layer is written straight from its sources (builder/copy.h copy_layer), with no
// tree on disk; execute_copy writes the same entries as a tree (a bind mount's). For each
// plan below, the layer written from the sources is byte for byte the layer of that tree,
// and the copy rules show in its entries.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "builder/copy.h"
#include "layers/layer_entries.h"
#include "layers/tar_writer.h"
#include "runtime/layer_dirs.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace {

constexpr int64_t kSourceTime = 1000000000;  // 2001: the context's entries
constexpr int64_t kImageTime = 1200000000;   // 2008: the image's directories
constexpr int64_t kEpoch = 1600000000;       // 2020: clamps "now" (made parents) only

void set_time(const std::string& path, int64_t sec) {
  timespec times[2] = {{sec, 0}, {sec, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

void make_dir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
  REQUIRE(::mkdir(path.c_str(), mode) == 0);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  REQUIRE(::chown(path.c_str(), uid, gid) == 0);
}

// The context: files of several modes, nested directories, a symlink, and two directories
// holding the same names (copied into one destination, the later source wins).
void make_context(const hoist_test::TempDir& ctx) {
  hoist_test::write_file(ctx / "a.txt", "a\n");
  hoist_test::write_file(ctx / "b.sh", "#!/bin/sh\n");
  REQUIRE(::chmod((ctx / "b.sh").c_str(), 04755) == 0);
  hoist_test::write_file(ctx / "dir/c.txt", "c from dir\n");
  hoist_test::write_file(ctx / "dir/sub/d.txt", "d\n");
  REQUIRE(::chmod((ctx / "dir/sub").c_str(), 0750) == 0);
  REQUIRE(::symlink("../a.txt", (ctx / "dir/link").c_str()) == 0);
  hoist_test::write_file(ctx / "other/c.txt", "c from other, longer\n");
  hoist_test::write_file(ctx / "other/sub/e.txt", "e\n");
  REQUIRE(::chmod((ctx / "other/sub").c_str(), 0700) == 0);
  for (const char* p : {"a.txt", "b.sh", "dir/c.txt", "dir/sub/d.txt", "dir/link", "other/c.txt",
                        "other/sub/e.txt", "dir/sub", "other/sub", "dir", "other"})
    set_time(ctx / p, kSourceTime);
}

// The image: /etc (0700, 5:6) and /srv/data, dated kImageTime.
void make_image(const hoist_test::TempDir& img) {
  make_dir(img / "etc", 0700, 5, 6);
  make_dir(img / "srv", 0755);
  make_dir(img / "srv/data", 0775, 7, 8);
  for (const char* p : {"srv/data", "srv", "etc"}) set_time(img / p, kImageTime);
}

std::string layer_bytes(const std::function<layers::Result<layers::LayerDigests>(const layers::WriteOptions&,
                                                                                  layers::ByteSink)>& write) {
  layers::WriteOptions options;
  options.compression = layers::Compression::None;
  options.source_date_epoch = kEpoch;
  std::string out;
  auto r = write(options, [&out](std::span<const std::byte> data) -> layers::Result<void> {
    out.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  });
  INFO((r ? std::string() : r.error().message()));
  REQUIRE(r);
  return out;
}

std::map<std::string, layers::LayerEntry> entries_in(const std::string& tar) {
  auto fd = hoist_test::memfd_of(tar);
  std::map<std::string, layers::LayerEntry> out;
  auto r = layers::for_each_layer_entry(fd.get(), false, [&](const layers::LayerEntry& e) -> layers::Result<void> {
    out.emplace(e.path, e);
    return {};
  });
  REQUIRE(r);
  return out;
}

}  // namespace

TEST_CASE("a COPY layer written from its sources is the layer of execute_copy's tree", "[builder][copy][copy-layer]") {
  if (::geteuid() != 0) HOIST_SKIP("needs root (the test image's directories are chowned)");
  struct Case {
    std::vector<std::string> sources;
    std::string dest;
    std::optional<std::string> chmod;
    uint32_t uid = 0, gid = 0;
    bool file_source = false;
  };
  auto c = GENERATE(values<Case>({
      {{"a.txt", "b.sh"}, "/etc/app/"},                   // into a made dir below the image's /etc
      {{"dir", "other"}, "/dst/"},                        // overlapping names: the later source wins
      {{"dir"}, "/srv/data", std::string("0640"), 1000, 1001},  // --chmod, --chown, an image dir
      {{"dir/link"}, "/deep/er/x"},                       // a symlink source is followed
      {{"."}, "/"},                                       // the whole context at the root
      {{"other/sub"}, "/etc"},                            // contents into the image's /etc
      {{}, "/made/here/", std::nullopt, 0, 0, true},      // a file source (a here-document's)
  }));
  CAPTURE(c.sources, c.dest);
  hoist_test::TempDir ctx("copy-layer-ctx"), img("copy-layer-img"), tree("copy-layer-tree"),
      made("copy-layer-file");
  make_context(ctx);
  make_image(img);
  const runtime::LayerView image(std::vector<std::string>{img.path()});

  builder::CopyRequest request;
  request.sources = c.sources;
  request.dest = c.dest;
  request.source_root = ctx.path();
  request.chmod = c.chmod;
  request.uid = c.uid;
  request.gid = c.gid;
  if (c.file_source) {
    hoist_test::write_file(made / "heredoc", "made by hoist\n");
    set_time(made / "heredoc", kSourceTime);
    request.file_sources.push_back({"heredoc", made / "heredoc", "key"});
  }
  auto plan = builder::plan_copy(request, image);
  INFO((plan ? std::string() : plan.error().message()));
  REQUIRE(plan);
  auto layer = builder::copy_layer(*plan, image, tree.path());
  INFO((layer ? std::string() : layer.error().message()));
  REQUIRE(layer);
  const std::string direct = layer_bytes([&](const layers::WriteOptions& o, layers::ByteSink out) {
    return layers::write_given_layer(layer->entries, layer->open_data, o, std::move(out));
  });

  const std::string root = tree / "root";
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  auto executed = builder::execute_copy(*plan, image, root);
  INFO((executed ? std::string() : executed.error().message()));
  REQUIRE(executed);
  const std::string from_tree = layer_bytes([&](const layers::WriteOptions& o, layers::ByteSink out) {
    return layers::write_directory_layer(root, o, std::move(out));
  });

  const auto entries = entries_in(direct);
  CHECK(!entries.empty());
  if (c.dest == "/etc/app/") {
    // The image's /etc keeps its metadata; the made /etc/app is 0755, 0:0, clamped "now".
    REQUIRE(entries.count("etc"));
    CHECK(entries.at("etc").mode == (S_IFDIR | 0700));
    CHECK(entries.at("etc").uid == 5);
    CHECK(entries.at("etc").mtime_sec == kImageTime);
    REQUIRE(entries.count("etc/app"));
    CHECK(entries.at("etc/app").mode == (S_IFDIR | 0755));
    CHECK(entries.at("etc/app").mtime_sec == kEpoch);
    CHECK(entries.at("etc/app/b.sh").mode == (S_IFREG | 04755));
  }
  if (c.dest == "/dst/") {
    CHECK(entries.at("dst/c.txt").size == int64_t(std::string("c from other, longer\n").size()));
    CHECK(entries.at("dst/sub").mode == (S_IFDIR | 0750));  // listed twice: the first stays
  }
  if (c.chmod) CHECK(entries.at("srv/data/c.txt").mode == (S_IFREG | 0640));
  CHECK(direct == from_tree);
}

TEST_CASE("a COPY layer refuses a path through an earlier source's non-directory", "[builder][copy][copy-layer]") {
  hoist_test::TempDir ctx("copy-layer-ctx"), a("copy-layer-a");
  hoist_test::write_file(ctx / "x/sub", "a file named sub\n");
  hoist_test::write_file(ctx / "y/sub/f", "f\n");
  const runtime::LayerView image(std::vector<std::string>{});
  builder::CopyRequest request;
  request.sources = {"x", "y"};
  request.dest = "/out/";
  request.source_root = ctx.path();
  auto plan = builder::plan_copy(request, image);
  REQUIRE(plan);
  auto layer = builder::copy_layer(*plan, image, a.path());
  REQUIRE(!layer);
  CHECK_THAT(layer.error().message(), Catch::Contains("/out/sub") && Catch::Contains("non-directory"));
}

TEST_CASE("ADD's archive entries land over earlier sources as the tar applier puts them", "[builder][copy][copy-layer]") {
  // `ADD early a.tar /dst/`: the archive's f replaces early's, its d/ merges with early's d
  // (taking the archive's mode), its file `swap` replaces early's directory swap/ and what
  // is in it; its symlink keeps its target, its hardlink stays a hardlink and its user.*
  // xattr is kept.
  hoist_test::TempDir ctx("copy-layer-ctx"), src("copy-layer-tar"), staging("copy-layer-staging");
  hoist_test::write_file(ctx / "early/f", "early f\n");
  hoist_test::write_file(ctx / "early/d/keep", "kept\n");
  hoist_test::write_file(ctx / "early/swap/inner", "gone\n");
  hoist_test::write_file(src / "f", "the archive's f, longer\n");
  REQUIRE(::mkdir((src / "d").c_str(), 0700) == 0);
  REQUIRE(::chmod((src / "d").c_str(), 0700) == 0);
  hoist_test::write_file(src / "swap", "a file now\n");
  hoist_test::write_file(src / "h1", "linked\n");
  REQUIRE(::link((src / "h1").c_str(), (src / "h2").c_str()) == 0);
  REQUIRE(::symlink("f", (src / "sl").c_str()) == 0);
  hoist_test::write_file(src / "xa", "with an xattr\n");
  if (::setxattr((src / "xa").c_str(), "user.test", "hello", 5, 0) != 0)
    HOIST_SKIP("this filesystem takes no user.* xattrs: " << std::strerror(errno));
  const std::string tar = "tar --xattrs --xattrs-include='user.*' -cf " + (ctx / "a.tar") + " -C " + src.path() + " .";
  REQUIRE(std::system(tar.c_str()) == 0);

  const runtime::LayerView image(std::vector<std::string>{});
  builder::CopyRequest request;
  request.is_add = true;
  request.sources = {"early", "a.tar"};
  request.dest = "/dst/";
  request.source_root = ctx.path();
  auto plan = builder::plan_copy(request, image);
  INFO((plan ? std::string() : plan.error().message()));
  REQUIRE(plan);
  auto layer = builder::copy_layer(*plan, image, staging.path());
  INFO((layer ? std::string() : layer.error().message()));
  REQUIRE(layer);
  const std::string bytes = layer_bytes([&](const layers::WriteOptions& o, layers::ByteSink out) {
    return layers::write_given_layer(layer->entries, layer->open_data, o, std::move(out));
  });
  const auto entries = entries_in(bytes);
  REQUIRE(entries.count("dst/f"));
  CHECK(entries.at("dst/f").size == int64_t(std::string("the archive's f, longer\n").size()));
  REQUIRE(entries.count("dst/d"));
  CHECK(entries.at("dst/d").mode == (S_IFDIR | 0700));
  CHECK(entries.count("dst/d/keep") == 1);
  REQUIRE(entries.count("dst/swap"));
  CHECK(S_ISREG(entries.at("dst/swap").mode));
  CHECK(entries.count("dst/swap/inner") == 0);
  REQUIRE(entries.count("dst/h2"));
  CHECK(entries.at("dst/h2").hardlink == "dst/h1");
  CHECK(entries.at("dst/h1").size == int64_t(std::string("linked\n").size()));
  REQUIRE(entries.count("dst/sl"));
  CHECK(S_ISLNK(entries.at("dst/sl").mode));
  CHECK(entries.at("dst/sl").link_target == "f");
  REQUIRE(entries.count("dst/xa"));
  CHECK(entries.at("dst/xa").xattrs == std::vector<std::pair<std::string, std::string>>{{"user.test", "hello"}});
  CHECK(entries.count("dst/a.tar") == 0);

  // A tree cannot be made of it: bind mounts never extract.
  hoist_test::TempDir tree("copy-layer-tree");
  auto executed = builder::execute_copy(*plan, image, tree.path());
  CHECK_FALSE(executed);
}
