#include "layers/layer_size.h"

#include <sys/stat.h>

#include "layers/layer_entries.h"

namespace layers {

Result<int64_t> layer_content_size(int fd) {
  int64_t total = 0;
  // Hardlinks (the file they name was counted), symlinks, directories and devices carry
  // no data: only regular files' sizes add up, as in docker's UnpackLayer.
  auto walked = for_each_layer_entry(fd, false, [&](const LayerEntry& e) -> Result<void> {
    if (e.hardlink.empty() && (e.mode & S_IFMT) == S_IFREG) total += e.size;
    return {};
  });
  if (!walked) return std::move(walked).error();
  return total;
}

}  // namespace layers
