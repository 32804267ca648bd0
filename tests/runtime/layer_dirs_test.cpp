// runtime/layer_dirs: unpacked layers come from the one-pass applier (no second reading of
// the tar by host path), and LayerView never follows a symlink out of a layer directory.

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "layers/compress.h"
#include "layers/store.h"
#include "runtime/layer_dirs.h"
#include "tests/support/canary.h"
#include "tests/support/fail_syscall.h"
#include "tests/support/files.h"
#include "tests/support/hostile_layers.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

layers::Descriptor put_layer(const layers::Store& store, const std::string& tar) {
  auto digest = store.blobs().put_bytes(tar);
  REQUIRE(digest);
  return {std::string(layers::media_type::kOciLayer), *digest, int64_t(tar.size())};
}

}  // namespace

TEST_CASE("ensure_unpacked: hostile layers are refused or contained, the canary untouched",
          "[runtime][layer_dirs][hostile]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("overlay-form unpacking needs root (mknod, trusted.* xattrs)");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  for (const auto& c : hoist_test::hostile_cases(canary.dir())) {
    CAPTURE(c.name);
    bool refused = false;
    std::string message;
    for (const auto& tar : c.layers) {
      auto layer = put_layer(*store, tar);
      auto dir = runtime::ensure_unpacked(*store, layer, layers::Digest::of(tar));
      if (!dir) {
        refused = true;
        message = dir.error().message();
        CHECK(dir.error().kind() == layers::ErrorKind::InvalidInput);
        break;
      }
      CHECK(dir->starts_with(store->unpacked_dir() + "/"));
    }
    INFO(message);
    CHECK(refused == (c.overlay.outcome == hoist_test::Outcome::Refused));
    if (refused) CHECK_THAT(message, Catch::Contains(c.overlay.entry));
    CHECK(canary.changes() == std::vector<std::string>{});
  }
  // Nothing half-written stays: a refused layer leaves no directory and no scratch.
  for (const auto& entry : fs::directory_iterator(store->unpacked_dir())) {
    CAPTURE(entry.path().string());
    CHECK_FALSE(entry.path().filename().string().starts_with(".tmp-"));
  }
}

TEST_CASE("ensure_unpacked: the issue's whiteouts beneath a symlink to the host write nothing there",
          "[runtime][layer_dirs][hostile]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("overlay-form unpacking needs root (mknod, trusted.* xattrs)");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  auto c = hoist_test::whiteouts_under_symlink_case(canary.dir());
  auto dir = runtime::ensure_unpacked(*store, put_layer(*store, c.layers[0]), layers::Digest::of(c.layers[0]));
  REQUIRE_FALSE(dir);
  CHECK_THAT(dir.error().message(), Catch::Contains("a/b/.wh.x"));
  char value[2];
  CHECK(::lgetxattr((canary.dir() + "/sub").c_str(), "trusted.overlay.opaque", value, sizeof value) < 0);
  struct stat st;
  CHECK(::lstat((canary.dir() + "/b/x").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(canary.changes() == std::vector<std::string>{});
}

TEST_CASE("LayerView: a symlink in a layer is never followed by lookup or host_path",
          "[runtime][layer_dirs]") {
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  // Top layer: etc -> CANARY (absolute, the host's path) and rel -> ../../canary.
  const std::string top = scratch.path() + "/top", bottom = scratch.path() + "/bottom";
  fs::create_directories(top);
  fs::create_directories(bottom + "/etc");
  std::ofstream(bottom + "/etc/passwd") << "root:x:0:0::/root:/bin/sh\n";
  REQUIRE(::symlink(canary.dir().c_str(), (top + "/etc").c_str()) == 0);
  REQUIRE(::symlink("../canary", (top + "/rel").c_str()) == 0);
  runtime::LayerView view({top, bottom});

  auto [path, present] = GENERATE(table<std::string, bool>({
      {"etc", true},          // the symlink itself
      {"etc/file1", false},   // through it: hidden, as overlayfs would (a non-dir above)
      {"etc/passwd", false},  // the bottom layer's file is hidden by the top's symlink
      {"rel/file1", false},
      {"/rel/sub/x", false},
  }));
  CAPTURE(path);
  auto st = view.lookup(path);
  CHECK(bool(st) == present);
  std::string host = view.host_path(path);
  CHECK(host.empty() == !present);
  if (present) {
    REQUIRE(st);
    CHECK(S_ISLNK(st->st_mode));
  }
  CHECK(canary.changes() == std::vector<std::string>{});
}

TEST_CASE("LayerView: whiteouts and opaque directories hide lower layers", "[runtime][layer_dirs]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("whiteout devices and trusted.* xattrs need root");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  const std::string top = scratch.path() + "/top", bottom = scratch.path() + "/bottom";
  fs::create_directories(top + "/opaque");
  fs::create_directories(bottom + "/opaque/deep");
  fs::create_directories(bottom + "/kept");
  std::ofstream(bottom + "/gone") << "x";
  std::ofstream(bottom + "/opaque/deep/f") << "x";
  std::ofstream(bottom + "/kept/f") << "x";
  REQUIRE(::mknod((top + "/gone").c_str(), S_IFCHR | 0, 0) == 0);
  REQUIRE(::setxattr((top + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  runtime::LayerView view({top, bottom});
  auto [path, present] = GENERATE(table<std::string, bool>({
      {"gone", false},
      {"opaque", true},
      {"opaque/deep", false},
      {"opaque/deep/f", false},
      {"kept/f", true},
      {"", true},
  }));
  CAPTURE(path);
  CHECK(bool(view.lookup(path)) == present);
  CHECK(view.host_path(path).empty() == !present);
  if (path == "kept/f") CHECK(view.host_path(path) == bottom + "/kept/f");
}

TEST_CASE("LayerView: indexed layers answer as the same layers unpacked", "[runtime][layer_dirs][layer_index]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("overlay-form unpacking needs root (mknod, trusted.* xattrs)");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  const std::vector<std::string> stack = {
      hoist_test::TarWriter()
          .dir("etc", 0755)
          .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
          .dir("srv", 0750, 33, 33)
          .file("srv/old", "x")
          .dir("opt/app", 0700, 1, 1)
          .file("opt/app/f", "x")
          .dir("real")
          .symlink("link", "real")
          .file("gone", "x")
          .finish(),
      hoist_test::TarWriter()
          .file(".wh.gone", "")
          .file("srv/.wh..wh..opq", "")
          .file("srv/new", "n")
          .file("implicit/dir/f", "i")
          .file("etc/group", "root:x:0:\n")
          .hardlink("etc/group-", "etc/group")
          .finish(),
  };
  auto unpacked_store = layers::Store::open(scratch.path() + "/unpacked");
  auto indexed_store = layers::Store::open(scratch.path() + "/indexed");
  REQUIRE(unpacked_store);
  REQUIRE(indexed_store);
  std::vector<layers::Descriptor> descriptors;
  std::vector<layers::Digest> diff_ids;
  for (const auto& tar : stack) {
    descriptors.push_back(put_layer(*unpacked_store, tar));
    put_layer(*indexed_store, tar);
    diff_ids.push_back(layers::Digest::of(tar));
  }
  auto unpacked = runtime::view_of(*unpacked_store, descriptors, diff_ids);
  REQUIRE(unpacked);
  auto indexed = runtime::index_view_of(*indexed_store, descriptors, diff_ids);
  REQUIRE(indexed);
  CHECK(!fs::exists(indexed_store->unpacked_path(diff_ids[0])));
  auto path = GENERATE(as<std::string>{}, "", "etc", "etc/passwd", "etc/group", "etc/group-", "srv", "srv/old",
                       "srv/new", "opt", "opt/app", "opt/app/f", "real", "link", "link/x", "gone", "implicit",
                       "implicit/dir", "implicit/dir/f", "missing", "gone/x");
  CAPTURE(path);
  auto a = unpacked->lookup(path), b = indexed->lookup(path);
  REQUIRE(bool(a) == bool(b));
  if (a && !path.empty()) {
    CHECK(a->st_mode == b->st_mode);
    CHECK(a->st_uid == b->st_uid);
    CHECK(a->st_gid == b->st_gid);
    // Parents a tar leaves out (opt, etc and srv in the top layer, implicit/...) are dated 0
    // both ways; the others have the tar's time.
    CHECK(a->st_mtim.tv_sec == b->st_mtim.tv_sec);
    CHECK(a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
  }
  auto text_a = unpacked->read_regular_file(path, 1 << 20), text_b = indexed->read_regular_file(path, 1 << 20);
  REQUIRE(text_a);
  REQUIRE(text_b);
  CHECK(*text_a == *text_b);
}

TEST_CASE("LayerView: resolve follows symlinks inside the image, never above its root", "[runtime][layer_dirs][layer_index]") {
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  const std::string tar = hoist_test::TarWriter()
                              .dir("real")
                              .dir("usr")
                              .symlink("abs", "/real")
                              .symlink("usr/rel", "../real")
                              .symlink("climb", "../../../../real")
                              .symlink("loop1", "loop2")
                              .symlink("loop2", "loop1")
                              .symlink("dangling", "/nowhere/deep")
                              .finish();
  auto indexed = runtime::index_view_of(*store, {put_layer(*store, tar)}, {layers::Digest::of(tar)});
  REQUIRE(indexed);
  auto [path, resolved] = GENERATE(table<std::string, std::string>({
      {"abs/x", "real/x"},
      {"abs", "real"},
      {"usr/rel/y", "real/y"},
      {"climb/z", "real/z"},
      {"dangling/f", "nowhere/deep/f"},
      {"real/../abs", "real"},
      {"new/dir", "new/dir"},
      {"", ""},
  }));
  CAPTURE(path);
  auto r = indexed->resolve(path);
  REQUIRE(r);
  CHECK(*r == resolved);
  auto loop = indexed->resolve("loop1/x");
  REQUIRE(!loop);
  CHECK(loop.error().kind() == layers::ErrorKind::InvalidInput);
}

namespace {

// `tar` compressed with `c` (LayerEncoder), as a pulled layer is stored.
std::string compressed(const std::string& tar, layers::Compression c) {
  std::string out;
  auto encoder = layers::LayerEncoder::create(c, [&](std::span<const std::byte> bytes) -> layers::Result<void> {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  });
  REQUIRE(encoder);
  REQUIRE(encoder->write(std::as_bytes(std::span(tar.data(), tar.size()))));
  REQUIRE(encoder->finish());
  return out;
}

// A stack of five layers, each writing its own files and changing the ones below, some
// bigger than the unpacker's read-ahead ring (layers/read_ahead.h) so chunks wrap around.
std::vector<std::string> five_layers() {
  const std::string big(3 << 20, 'b');
  std::vector<std::string> stack;
  stack.push_back(hoist_test::TarWriter()
                      .dir("etc", 0755)
                      .file("etc/os", "base\n")
                      .file("gone", "x")
                      .dir("keep")
                      .file("keep/a", "a")
                      .finish());
  for (int n = 1; n < 5; ++n) {
    hoist_test::TarWriter w;
    w.file("etc/os", "layer " + std::to_string(n) + "\n").file("l" + std::to_string(n) + "/big", big + char('0' + n));
    if (n == 2) w.file(".wh.gone", "");
    if (n == 3) w.file("keep/.wh..wh..opq", "").file("keep/b", "b");
    stack.push_back(w.finish());
  }
  return stack;
}

}  // namespace

TEST_CASE("view_of: the layers of a stack are unpacked at once into the merged view", "[runtime][layer_dirs]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("overlay-form unpacking needs root (mknod, trusted.* xattrs)");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  std::vector<layers::Descriptor> descriptors;
  std::vector<layers::Digest> diff_ids;
  int n = 0;
  for (const auto& tar : five_layers()) {
    const auto c = n++ % 2 ? layers::Compression::Zstd : layers::Compression::Gzip;
    descriptors.push_back(put_layer(*store, compressed(tar, c)));
    diff_ids.push_back(layers::Digest::of(tar));
  }
  // The base layer listed twice: one directory serves both.
  descriptors.push_back(descriptors[0]);
  diff_ids.push_back(diff_ids[0]);

  auto view = runtime::view_of(*store, descriptors, diff_ids);
  REQUIRE(view);
  for (const auto& id : diff_ids) CHECK(fs::is_directory(store->unpacked_path(id)));
  auto text = [&](const std::string& path) {
    auto r = view->read_regular_file(path, 8 << 20);
    REQUIRE(r);
    return r->value_or("<none>");
  };
  // The top-most copy of a layer listed twice is the base: its etc/os wins.
  CHECK(text("etc/os") == "base\n");
  CHECK(text("gone") == "x");
  CHECK(text("keep/a") == "a");
  // Without the repeated base on top: layer 4's etc/os, layer 2's whiteout, layer 3's opaque dir.
  descriptors.pop_back();
  diff_ids.pop_back();
  view = runtime::view_of(*store, descriptors, diff_ids);
  REQUIRE(view);
  CHECK(text("etc/os") == "layer 4\n");
  CHECK(text("gone") == "<none>");
  CHECK_FALSE(view->lookup("gone"));
  CHECK(text("keep/a") == "<none>");
  CHECK(text("keep/b") == "b");
  for (int k = 1; k < 5; ++k) {
    const std::string big = text("l" + std::to_string(k) + "/big");
    CHECK(big.size() == (3u << 20) + 1);
    CHECK(big.back() == char('0' + k));
  }
}

TEST_CASE("view_of: a corrupt layer among several fails naming the lowest one and leaves no directory",
          "[runtime][layer_dirs]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("overlay-form unpacking needs root (mknod, trusted.* xattrs)");
  }
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  const auto stack = five_layers();
  std::vector<layers::Descriptor> descriptors;
  std::vector<layers::Digest> diff_ids;
  for (const auto& tar : stack) {
    descriptors.push_back(put_layer(*store, compressed(tar, layers::Compression::Gzip)));
    diff_ids.push_back(layers::Digest::of(tar));
  }
  // Layers 2 and 4 (of 5) claim the diff_ids of other content: wrong diff_ids.
  diff_ids[1] = layers::Digest::of(std::string("not layer 2"));
  diff_ids[3] = layers::Digest::of(std::string("not layer 4"));
  for (int attempt = 0; attempt < 3; ++attempt) {
    CAPTURE(attempt);
    auto view = runtime::view_of(*store, descriptors, diff_ids);
    REQUIRE_FALSE(view);
    CHECK(view.error().kind() == layers::ErrorKind::Corrupt);
    CHECK_THAT(view.error().message(), Catch::StartsWith("layer 2 of 5: ") && Catch::Contains(diff_ids[1].str()));
    CHECK_FALSE(fs::exists(store->unpacked_path(diff_ids[1])));
    CHECK_FALSE(fs::exists(store->unpacked_path(diff_ids[3])));
    for (const auto& entry : fs::directory_iterator(store->unpacked_dir())) {
      CAPTURE(entry.path().string());
      CHECK_FALSE(entry.path().filename().string().starts_with(".tmp-"));
    }
  }
  // Layer 1, below the failure, always ran to its end.
  CHECK(fs::is_directory(store->unpacked_path(diff_ids[0])));
}

namespace {

// Every path below `root` (relative, sorted).
std::set<std::string> tree_paths(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    out.insert(e.path().lexically_relative(root).generic_string());
  return out;
}

}  // namespace

TEST_CASE("materialize_sources: only the sources' subtrees, every symlink and hardlink targets, whiteouts applied",
          "[runtime][layer_dirs][layer_index]") {
  hoist_test::TempDir scratch("hoist-materialize");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  hoist_test::TarWriter lower;
  lower.dir("app").dir("app/venv").dir("app/venv/lib").file("app/venv/lib/a.py", "a").file("app/venv/lib/b.py", "b");
  lower.dir("big");
  for (int i = 0; i < 100; ++i) lower.file("big/f" + std::to_string(i), "big");
  lower.dir("opt").dir("opt/real").file("opt/real/data.txt", "data").symlink("data", "/opt/real");
  lower.symlink("chain1", "chain2").symlink("chain2", "opt/real");
  lower.dir("hl").file("hl/orig", "shared bytes").hardlink("app/venv/hard", "hl/orig");
  const std::string l1 = lower.finish();
  const std::string l2 = hoist_test::TarWriter().file("app/venv/lib/.wh.a.py", "").dir("other").file("other/x").finish();
  const std::vector<layers::Descriptor> descriptors = {put_layer(*store, l1), put_layer(*store, l2)};
  const std::vector<layers::Digest> diff_ids = {layers::Digest::of(l1), layers::Digest::of(l2)};

  const std::string full = scratch.path() + "/full";
  REQUIRE(fs::create_directory(full));
  REQUIRE(runtime::materialize_rootfs(*store, descriptors, full));
  const auto all = tree_paths(full);
  REQUIRE(all.count("big/f99"));

  auto [source, wanted] = GENERATE(table<std::string, std::string>({
      {"/app/venv", "app/venv"},      // a directory: its subtree, the hardlink's target too
      {"data/*.txt", "opt/real"},     // a wildcard below an absolute symlink
      {"chain1", "opt/real"},         // two symlinks on the way
      {"./app/./venv/lib", "app"},    // a --parents pivot: everything below the part before it
  }));
  CAPTURE(source);
  const std::string part = scratch.path() + "/part";
  fs::remove_all(part);
  REQUIRE(fs::create_directory(part));
  auto left_out = runtime::materialize_sources(*store, descriptors, diff_ids, {source}, part);
  INFO((left_out ? std::string() : left_out.error().message()));
  REQUIRE(left_out);
  CHECK(*left_out >= 100);  // big/ at least
  const auto kept = tree_paths(part);
  for (const auto& p : all) {
    CAPTURE(p);
    if (p == wanted || p.starts_with(wanted + "/")) CHECK(kept.count(p) == 1);
  }
  for (const auto& p : kept) {
    CAPTURE(p);
    CHECK(all.count(p) == 1);  // nothing a full tree does not have
  }
  CHECK(kept.count("big/f0") == 0);
  CHECK(kept.count("other/x") == 0);
  CHECK(kept.count("app/venv/lib/a.py") == 0);  // the upper layer's whiteout applied
  CHECK(kept.count("data") == 1);               // every symlink
  CHECK(kept.count("chain2") == 1);
  if (wanted == "app/venv") {
    CHECK(hoist_test::read_file(part + "/app/venv/hard") == "shared bytes");
    CHECK(kept.count("hl/orig") == 1);
  }

  SECTION("a source naming the root takes everything") {
    const std::string whole = scratch.path() + "/whole";
    fs::remove_all(whole);
    REQUIRE(fs::create_directory(whole));
    auto none = runtime::materialize_sources(*store, descriptors, diff_ids, {"/"}, whole);
    REQUIRE(none);
    CHECK(*none == 0);
    CHECK(tree_paths(whole) == all);
  }
}

TEST_CASE("adopt_unpacked: a RUN's upper dir becomes the layer's unpacked dir only once synced",
          "[runtime][layer_dirs]") {
  hoist_test::TempDir scratch("hoist-layerdirs");
  auto store = layers::Store::open(scratch.path() + "/store");
  REQUIRE(store);
  const auto diff_id = layers::Digest::of("the layer");
  const std::string upper = scratch.path() + "/upper";
  fs::create_directories(upper + "/etc");
  hoist_test::write_file(upper + "/etc/made", "by the RUN");

  // fsync failing (a tree this small is synced file by file; layers_test covers syncfs): the
  // dir is not adopted (a named unpacked dir is trusted for good).
  auto seen = hoist_test::in_child_failing(SYS_fsync, EIO, [&] {
    runtime::adopt_unpacked(*store, upper, diff_id);
    return 0;
  });
  if (!seen) HOIST_SKIP("seccomp filter unavailable here; the failing sync not checked");
  CHECK(*seen == 0);
  CHECK(fs::exists(upper + "/etc/made"));
  CHECK_FALSE(fs::exists(store->unpacked_path(diff_id)));

  runtime::adopt_unpacked(*store, upper, diff_id);
  CHECK_FALSE(fs::exists(upper));
  CHECK(fs::exists(store->unpacked_path(diff_id) + "/etc/made"));
}
