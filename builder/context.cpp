#include "builder/context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <vector>

#include "layers/blob_store.h"
#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {
constexpr size_t kMaxIgnoreFileBytes = 4 << 20;
}

Result<BuildContext> BuildContext::open(const std::string& dir, std::string_view dockerfile_path) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Error::from_errno("build context " + layers::quoted(dir));
  if (!S_ISDIR(st.st_mode))
    return Error(ErrorKind::InvalidInput, "build context " + layers::quoted(dir) + " is not a directory");
  BuildContext context;
  context.dir_ = dir;
  for (const auto& candidate : parser::ignore_file_candidates(dir, dockerfile_path)) {
    auto text = layers::read_file(candidate, kMaxIgnoreFileBytes);
    if (!text) {
      if (text.error().kind() == ErrorKind::NotFound) continue;
      return std::move(text).error();
    }
    context.ignore_ = parser::IgnoreRules::from_text(*text, candidate);
    if (!context.ignore_.diagnostics().empty())
      return Error(ErrorKind::InvalidInput, parser::format_headline(context.ignore_.diagnostics().front()));
    break;
  }
  return context;
}

BuildContext BuildContext::empty() { return BuildContext(); }

void ContentHasher::add_text(std::string_view text) {
  hash_.update(std::to_string(text.size()) + ":");
  hash_.update(text);
}

Result<std::string> path_in_root(int root_fd, int fd) {
  auto link_of = [](int n) -> Result<std::string> {
    std::string proc = "/proc/self/fd/" + std::to_string(n);
    std::vector<char> buf(PATH_MAX + 1);
    ssize_t len = ::readlink(proc.c_str(), buf.data(), buf.size());
    if (len < 0) return Error::from_errno("reading " + proc);
    if (size_t(len) >= buf.size()) return Error(ErrorKind::InvalidInput, proc + ": path too long");
    return std::string(buf.data(), size_t(len));
  };
  auto root = link_of(root_fd);
  if (!root) return root;
  auto path = link_of(fd);
  if (!path) return path;
  if (*path == *root) return std::string();
  std::string prefix = *root == "/" ? "/" : *root + "/";
  if (!path->starts_with(prefix))
    return Error(ErrorKind::InvalidInput, layers::quoted(*path) + " is not beneath " + layers::quoted(*root));
  return path->substr(prefix.size());
}

Result<SourceEntry> open_source_entry(int root_fd, const std::string& rel) {
  SourceEntry entry;
  entry.fd.reset(layers::open_in_root_clamped(root_fd, rel, O_PATH | O_NOFOLLOW));
  if (!entry.fd) return Error::from_errno("opening " + layers::quoted(rel));
  if (::fstat(entry.fd.get(), &entry.st) != 0) return Error::from_errno("stat " + layers::quoted(rel));
  return entry;
}

Result<layers::UniqueFd> open_source_data(int root_fd, const std::string& rel, const struct stat& expected) {
  if (!S_ISREG(expected.st_mode))
    return Error(ErrorKind::InvalidInput, layers::quoted(rel) + " is not a regular file");
  // O_NONBLOCK: should a FIFO have been swapped in, the open returns at once (and the
  // check below refuses it) instead of waiting for a writer.
  layers::UniqueFd fd(layers::open_in_root_clamped(root_fd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) return Error::from_errno("opening " + layers::quoted(rel));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + layers::quoted(rel));
  if (!S_ISREG(st.st_mode) || st.st_dev != expected.st_dev || st.st_ino != expected.st_ino)
    return Error(ErrorKind::InvalidInput, layers::quoted(rel) + " changed while it was being read");
  return fd;
}

Result<std::string> read_source_link(const SourceEntry& entry, const std::string& rel) {
  std::vector<char> target(size_t(entry.st.st_size) + 2);
  ssize_t n = ::readlinkat(entry.fd.get(), "", target.data(), target.size());
  if (n < 0) return Error::from_errno("reading link " + layers::quoted(rel));
  if (size_t(n) >= target.size())
    return Error(ErrorKind::InvalidInput, "link " + layers::quoted(rel) + " changed while it was being read");
  return std::string(target.data(), size_t(n));
}

Result<void> ContentHasher::add(std::string_view dest_rel, int root_fd, const std::string& rel) {
  auto entry = open_source_entry(root_fd, rel);
  if (!entry) return std::move(entry).error().context("hashing");
  const struct stat& st = entry->st;
  char meta[128];
  std::snprintf(meta, sizeof meta, "%o %u %u %lld", st.st_mode, st.st_uid, st.st_gid,
                static_cast<long long>(S_ISREG(st.st_mode) ? st.st_size : 0));
  add_text(dest_rel);
  add_text(meta);
  if (S_ISLNK(st.st_mode)) {
    auto target = read_source_link(*entry, rel);
    if (!target) return std::move(target).error();
    add_text(*target);
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    add_text(std::to_string(st.st_rdev));
  } else if (S_ISREG(st.st_mode)) {
    auto fd = open_source_data(root_fd, rel, st);
    if (!fd) return std::move(fd).error().context("hashing");
    layers::Sha256 file_hash;
    std::vector<std::byte> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(fd->get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("reading " + layers::quoted(rel));
      }
      if (n == 0) break;
      file_hash.update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
    }
    add_text(file_hash.finish().str());
  }
  return {};
}

}  // namespace builder
