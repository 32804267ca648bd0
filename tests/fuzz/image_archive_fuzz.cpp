// libFuzzer target for layers::read_image_archive: a docker-archive or OCI layout tar (plain
// or compressed) as `hoist load` reads it. Each input is read into a fresh store; errors are
// expected, crashes and sanitizer reports are bugs, and whatever it returns must be in the
// store (every loaded image's manifest blob exists) and the store must pass fsck.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "layers/image_archive.h"
#include "layers/store.h"
#include "scratch.h"

namespace {

const std::string& base_dir() {
  static const std::string base = hoist_fuzz::make_scratch_dir("hoist-archive-fuzz");
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& base = base_dir();
  const std::string archive = base + "/input.tar", root = base + "/store";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  int fd = ::open(archive.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, data, size) != ssize_t(size)) std::abort();
  ::close(fd);

  auto store = layers::Store::open(root);
  if (!store) std::abort();
  auto images = layers::read_image_archive(*store, archive);
  if (images) {
    for (const auto& image : *images) {
      if (!store->blobs().has(image.descriptor.digest)) {
        std::fprintf(stderr, "loaded manifest %s is not in the store\n", image.descriptor.digest.str().c_str());
        std::abort();
      }
    }
  }
  // Blobs land only under their digest: nothing stray, nothing misnamed.
  auto fsck = store->fsck();
  if (!fsck) std::abort();
  for (const auto& p : fsck->problems) {
    std::fprintf(stderr, "fsck after load: %s\n", p.c_str());
    std::abort();
  }
  return 0;
}
