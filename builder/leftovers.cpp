#include "builder/leftovers.h"

#include <filesystem>
#include <vector>

#include "runtime/container.h"
#include "layers/remove_tree.h"
#include "layers/store.h"

namespace builder {
namespace {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

// The names in `dir`; none when it is missing.
Result<std::vector<std::string>> names_in(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    names.push_back(entry.path().filename().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Error(ErrorKind::Io, "listing " + layers::quoted(dir), ec.value());
  return names;
}

Result<void> remove_counted(const std::string& path, size_t& removed) {
  auto gone = layers::remove_tree(path);
  if (!gone) return std::move(gone).error();
  if (*gone) ++removed;
  return {};
}

}  // namespace

Result<size_t> sweep_leftovers(const std::string& store_root) {
  size_t removed = 0;
  const std::string build_dir = store_root + "/hoist-build";
  auto builds = names_in(build_dir);
  if (!builds) return std::move(builds).error();
  for (const auto& name : *builds)
    if (auto r = remove_counted(build_dir + "/" + name, removed); !r) return std::move(r).error();

  const std::string containers_dir = store_root + "/hoist-containers";
  auto containers = names_in(containers_dir);
  if (!containers) return std::move(containers).error();
  if (containers->empty()) return removed;
  // No container is being created while we look (creators hold it for the whole time).
  auto creators = layers::FileLock::acquire(store_root + "/hoist-locks/containers.lock", true);
  if (!creators) return std::move(creators).error().context("sweeping container leftovers");
  for (const auto& name : *containers) {
    const std::string path = containers_dir + "/" + name;
    if (name.starts_with(".tmp-")) {
      if (layers::FileLock::is_held(path + "/lock")) continue;
      if (auto r = remove_counted(path, removed); !r) return std::move(r).error();
    } else if (name.starts_with(".rm-")) {
      if (auto r = remove_counted(path, removed); !r) return std::move(r).error();
    } else if (!name.starts_with(".") && !layers::FileLock::is_held(path + "/lock")) {
      auto inside = names_in(path);
      if (!inside) return std::move(inside).error();
      for (const auto& child : *inside)
        if (child.starts_with("hoist-run-"))
          if (auto r = remove_counted(path + "/" + child, removed); !r) return std::move(r).error();
    }
  }
  return removed;
}

}  // namespace builder
