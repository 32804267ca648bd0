#include "builder/context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "layers/blob_store.h"
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

Result<void> ContentHasher::add(std::string_view dest_rel, const std::string& host_path) {
  struct stat st;
  if (::lstat(host_path.c_str(), &st) != 0) return Error::from_errno("hashing " + layers::quoted(host_path));
  char meta[128];
  std::snprintf(meta, sizeof meta, "%o %u %u %lld", st.st_mode, st.st_uid, st.st_gid,
                static_cast<long long>(S_ISREG(st.st_mode) ? st.st_size : 0));
  add_text(dest_rel);
  add_text(meta);
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
    ssize_t n = ::readlink(host_path.c_str(), target.data(), target.size());
    if (n < 0) return Error::from_errno("reading link " + layers::quoted(host_path));
    add_text(std::string_view(target.data(), static_cast<size_t>(n)));
  } else if (S_ISREG(st.st_mode)) {
    layers::UniqueFd fd(::open(host_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Error::from_errno("opening " + layers::quoted(host_path));
    layers::Sha256 file_hash;
    std::vector<std::byte> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("reading " + layers::quoted(host_path));
      }
      if (n == 0) break;
      file_hash.update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
    }
    add_text(file_hash.finish().str());
  }
  return {};
}

}  // namespace builder
