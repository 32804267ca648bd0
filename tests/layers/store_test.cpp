#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "layers/store.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace {

// The shared temp dir (tests/support/temp_dir.h), under the name and `path` this file uses.
struct TempDir {
  hoist_test::TempDir dir{"hoist-store-test"};
  const std::string& path = dir.path();
};

// Stores a one-layer image whose layer holds `content`; returns its manifest descriptor.
layers::Descriptor make_image(const layers::Store& store, const std::string& content) {
  auto layer = store.blobs().put_bytes(content);
  REQUIRE(layer);
  layers::Descriptor layer_desc{std::string(layers::media_type::kOciLayer), *layer,
                                static_cast<int64_t>(content.size())};
  layers::ImageConfig config;
  config.architecture = "amd64";
  config.os = "linux";
  config.diff_ids = {*layer};
  config.config.cmd = std::vector<std::string>{"/bin/sh"};
  auto d = store.put_image(config, {layer_desc});
  REQUIRE(d);
  return *d;
}

}  // namespace

TEST_CASE("store: a new store is an OCI layout", "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path + "/root");
  REQUIRE(store);
  auto layout = layers::read_file(dir.path + "/root/oci-layout", 100);
  REQUIRE(layout);
  CHECK(*layout == R"({"imageLayoutVersion":"1.0.0"})");
  auto index = store->read_index();
  REQUIRE(index);
  CHECK(index->manifests.empty());
  for (const char* sub : {"blobs/sha256", "hoist-tmp", "hoist-locks", "hoist-unpacked", "hoist-cache"})
    CHECK(std::filesystem::is_directory(dir.path + "/root/" + sub));
  // Opening again keeps what is there.
  auto d = make_image(*store, "layer");
  REQUIRE(store->set_tag("docker.io/library/a:1", d));
  auto reopened = layers::Store::open(dir.path + "/root");
  REQUIRE(reopened);
  CHECK(reopened->find_tag("docker.io/library/a:1"));
}

TEST_CASE("store: tags, ids and images", "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  auto one = make_image(*store, "one");
  auto two = make_image(*store, "two");
  REQUIRE(store->set_tag("docker.io/library/a:1", one));
  REQUIRE(store->set_tag("docker.io/library/b:1", one));
  REQUIRE(store->set_tag("docker.io/library/a:2", two));
  REQUIRE(store->set_tag("docker.io/library/a:1", two));  // moves the tag

  auto entries = store->list();
  REQUIRE(entries);
  REQUIRE(entries->size() == 3);
  auto a1 = store->find_tag("docker.io/library/a:1");
  REQUIRE(a1);
  CHECK(a1->digest == two.digest);
  CHECK(a1->ref_name() == "docker.io/library/a:1");
  REQUIRE(a1->platform);
  CHECK(a1->platform->architecture == "amd64");

  auto image = store->load_image(*a1);
  REQUIRE(image);
  CHECK(image->config.config.cmd == std::vector<std::string>{"/bin/sh"});
  CHECK(image->id() == image->manifest.config.digest);

  // By image id (the config digest), whole or a prefix, with or without "sha256:".
  std::string id = image->id().str();
  for (std::string text : {id, id.substr(7), id.substr(7, 12), id.substr(0, 19)}) {
    CAPTURE(text);
    auto found = store->resolve(text);
    REQUIRE(found);
    CHECK(found->digest == two.digest);
  }
  auto missing = store->resolve("docker.io/library/nope:1");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind() == layers::ErrorKind::NotFound);

  auto names = store->names_of(two.digest);
  REQUIRE(names);
  CHECK(names->size() == 2);

  auto removed = store->remove_tag("docker.io/library/a:2");
  REQUIRE(removed);
  CHECK(removed->digest == two.digest);
  CHECK(store->remove_tag("docker.io/library/a:2").error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("store: gc keeps what tags reach and removes the rest", "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  auto kept = make_image(*store, "kept");
  auto dropped = make_image(*store, "dropped");
  REQUIRE(store->set_tag("docker.io/library/kept:1", kept));
  auto kept_image = store->load_image(kept);
  REQUIRE(kept_image);
  auto kept_diff = kept_image->config.diff_ids.at(0);
  REQUIRE(layers::make_dirs(store->unpacked_path(kept_diff)));
  REQUIRE(layers::make_dirs(store->unpacked_path(layers::Digest::of("dropped"))));

  auto report = store->gc();
  REQUIRE(report);
  REQUIRE(*report);
  CHECK((*report)->blobs_removed == 3);  // manifest, config, layer of `dropped`
  CHECK((*report)->unpacked_removed == 1);
  CHECK_FALSE(store->blobs().has(dropped.digest));
  CHECK(store->blobs().has(kept.digest));
  CHECK(store->load_image(kept));
  CHECK(std::filesystem::is_directory(store->unpacked_path(kept_diff)));

  auto fsck = store->fsck();
  REQUIRE(fsck);
  CHECK(fsck->problems.empty());

  // A writer holding the shared gc lock makes a non-waiting gc step aside.
  auto shared = store->gc_shared_lock();
  REQUIRE(shared);
  auto skipped = store->gc(false);
  REQUIRE(skipped);
  CHECK_FALSE(*skipped);
}

TEST_CASE("store: gc sweeps what dead writers left, never what is in use", "[layers][store]") {
  namespace fs = std::filesystem;
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  auto kept = make_image(*store, "kept");
  REQUIRE(store->set_tag("docker.io/library/kept:1", kept));
  auto kept_image = store->load_image(kept);
  REQUIRE(kept_image);
  const std::string kept_unpacked = store->unpacked_path(kept_image->config.diff_ids.at(0));
  REQUIRE(layers::make_dirs(kept_unpacked + "/etc"));

  // Dead: an unpack's scratch, an unreferenced layer, temp files and dirs nobody locks,
  // an index.json temp file a crash left.
  const std::string unpacked = store->unpacked_dir();
  REQUIRE(layers::make_dirs(unpacked + "/.tmp-abc-123456/usr/bin"));
  std::ofstream(unpacked + "/.tmp-abc-123456/usr/bin/sh") << "x";
  fs::create_symlink("/etc", unpacked + "/.tmp-abc-123456/etc-link");
  const std::string tmp = store->blobs().tmp_dir();
  std::ofstream(tmp + "/blob-dead") << "half";
  REQUIRE(layers::make_dirs(tmp + "/dir-dead/sub"));
  std::ofstream(tmp + "/dir-dead/sub/f") << "x";
  std::ofstream(dir.path + "/index.json.tmp-ABCDEF") << "{";
  // Live: a temp file and a temp dir whose writers hold their flocks.
  std::ofstream(tmp + "/blob-live") << "writing";
  REQUIRE(layers::make_dirs(tmp + "/dir-live"));
  int live_file = ::open((tmp + "/blob-live").c_str(), O_RDONLY | O_CLOEXEC);
  int live_dir = ::open((tmp + "/dir-live").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(live_file >= 0);
  REQUIRE(live_dir >= 0);
  REQUIRE(::flock(live_file, LOCK_EX) == 0);
  REQUIRE(::flock(live_dir, LOCK_EX) == 0);
  // A dead unpacked layer with something mounted in it stays: deleting through a mount
  // would delete what it shows.
  const std::string mounted = store->unpacked_path(layers::Digest::of("mounted"));
  REQUIRE(layers::make_dirs(mounted + "/mnt"));
  const bool can_mount = ::mount("tmpfs", (mounted + "/mnt").c_str(), "tmpfs", 0, nullptr) == 0;
  if (can_mount) std::ofstream(mounted + "/mnt/precious") << "keep";

  int swept = 0;
  auto report = store->gc(true, [&]() -> layers::Result<size_t> {
    ++swept;
    return size_t(2);
  });
  if (can_mount) ::umount2((mounted + "/mnt").c_str(), MNT_DETACH);
  REQUIRE(report);
  REQUIRE(*report);
  CHECK(swept == 1);
  CHECK((*report)->unpacked_removed == (can_mount ? 1 : 2));
  // blob-dead, dir-dead, index.json.tmp-ABCDEF, and the hook's 2.
  CHECK((*report)->temp_files_removed == 5);
  CHECK_FALSE(fs::exists(unpacked + "/.tmp-abc-123456"));
  CHECK(fs::exists("/etc/passwd"));  // the symlink was removed, not followed
  CHECK_FALSE(fs::exists(tmp + "/blob-dead"));
  CHECK_FALSE(fs::exists(tmp + "/dir-dead"));
  CHECK_FALSE(fs::exists(dir.path + "/index.json.tmp-ABCDEF"));
  CHECK(fs::exists(tmp + "/blob-live"));
  CHECK(fs::is_directory(tmp + "/dir-live"));
  CHECK(fs::is_directory(kept_unpacked + "/etc"));
  if (can_mount) {
    CHECK(fs::is_directory(mounted + "/mnt"));
  } else {
    hoist_test::record_skip("the mount-point case: mount(tmpfs) is not permitted here");
  }
  ::close(live_file);
  ::close(live_dir);

  // A failing hook fails gc, naming what it was doing.
  auto failed = store->gc(true, []() -> layers::Result<size_t> {
    return layers::Error(layers::ErrorKind::Io, "sweeping the hook's things");
  });
  REQUIRE_FALSE(failed);
  CHECK(failed.error().describe().find("sweeping the hook's things") != std::string::npos);
}

TEST_CASE("store: fsck names every kind of damage", "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  auto d = make_image(*store, "payload");
  REQUIRE(store->set_tag("docker.io/library/x:1", d));
  auto image = store->load_image(d);
  REQUIRE(image);

  std::ofstream(store->blobs().blobs_dir() + "/blob-tmp123") << "half";
  std::ofstream(store->blobs().path_of(image->manifest.config.digest), std::ios::trunc) << "{}";
  REQUIRE(store->blobs().remove(image->manifest.layers.at(0).digest));

  auto fsck = store->fsck();
  REQUIRE(fsck);
  std::string all;
  for (const auto& p : fsck->problems) all += p + "\n";
  CAPTURE(all);
  CHECK_THAT(all, Catch::Contains("blob-tmp123: not named by a sha256 digest"));
  CHECK_THAT(all, Catch::Contains(image->manifest.config.digest.str() + " holds content"));
  CHECK_THAT(all, Catch::Contains(image->manifest.layers.at(0).digest.str() + " is missing"));
  // gc refuses to sweep a damaged store rather than guess.
  auto gc = store->gc();
  REQUIRE_FALSE(gc);
  CHECK(gc.error().kind() == layers::ErrorKind::Corrupt);
}

TEST_CASE("store: concurrent taggers never lose each other's tags", "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  auto d = make_image(*store, "shared");
  constexpr int kProcs = 4, kTags = 25;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto child = layers::Store::open(dir.path);
      bool ok = bool(child);
      for (int t = 0; ok && t < kTags; ++t)
        ok = bool(child->set_tag("docker.io/library/p" + std::to_string(p) + ":" + std::to_string(t), d));
      ::_exit(ok ? 0 : 1);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto entries = store->list();
  REQUIRE(entries);
  CHECK(entries->size() == size_t(kProcs * kTags));
}

TEST_CASE("store: an artifact manifest (a config of its own type) keeps its blobs through gc and fsck",
          "[layers][store]") {
  TempDir dir;
  auto store = layers::Store::open(dir.path);
  REQUIRE(store);
  const std::string config_text = "{\"records\": {}}", layer_text = "a layer";
  auto config = store->blobs().put_bytes(config_text);
  auto layer = store->blobs().put_bytes(layer_text);
  REQUIRE(config);
  REQUIRE(layer);
  layers::Manifest manifest;
  manifest.config = {"application/vnd.example.config.v1+json", *config, static_cast<int64_t>(config_text.size())};
  manifest.layers = {{std::string(layers::media_type::kOciLayerGzip), *layer, static_cast<int64_t>(layer_text.size())}};
  const std::string text = manifest.to_json();
  auto digest = store->blobs().put_bytes(text);
  REQUIRE(digest);
  REQUIRE(store->set_tag("latest", {std::string(layers::media_type::kOciManifest), *digest,
                                     static_cast<int64_t>(text.size())}));
  (void)store->blobs().put_bytes("unreferenced");

  auto fsck = store->fsck();
  REQUIRE(fsck);
  CHECK(fsck->problems.empty());
  auto report = store->gc();
  REQUIRE(report);
  REQUIRE(*report);
  CHECK((*report)->blobs_removed == 1);
  CHECK(store->blobs().has(*config));
  CHECK(store->blobs().has(*layer));
}
