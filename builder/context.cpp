#include "builder/context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <vector>

#include "layers/blob_store.h"
#include "layers/resolve_in_root.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"

namespace builder {

namespace {

constexpr size_t kMaxStdinDockerfileBytes = 16 << 20;

// Whether `head` starts a tar or a compressed stream (the formats docker build - takes).
bool looks_like_archive(std::string_view head) {
  auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  if (starts("\x1f\x8b") || starts("BZh") || starts(std::string_view("\xfd" "7zXZ\0", 6)) ||
      starts("\x28\xb5\x2f\xfd"))
    return true;
  return head.size() >= 262 && head.substr(257, 5) == "ustar";
}

}  // namespace

layers::Result<StdinContext> read_stdin_context(int fd, const std::string& scratch, const std::string& dockerfile) {
  const std::string spool = scratch + "/stdin";
  layers::UniqueFd out(::open(spool.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return layers::Error::from_errno("creating " + layers::quoted(spool));
  std::string head;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return layers::Error::from_errno("reading the context from stdin");
    if (n == 0) break;
    if (head.size() < 512) head.append(buf, std::min<size_t>(static_cast<size_t>(n), 512 - head.size()));
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return layers::Error::from_errno("writing " + layers::quoted(spool));
      done += w;
    }
  }
  StdinContext context;
  if (!looks_like_archive(head)) {
    auto text = layers::read_file(spool, kMaxStdinDockerfileBytes);
    if (!text) return std::move(text).error().context("reading the Dockerfile from stdin");
    context.dockerfile_text = std::move(*text);
    return context;
  }
  context.dir = scratch + "/context";
  if (::mkdir(context.dir.c_str(), 0755) != 0) return layers::Error::from_errno("creating " + layers::quoted(context.dir));
  if (::lseek(out.get(), 0, SEEK_SET) != 0) return layers::Error::from_errno("rewinding " + layers::quoted(spool));
  layers::UnpackOptions options;
  options.whiteouts = layers::WhiteoutMode::Keep;
  options.any_compression = true;
  options.restore_owners = ::geteuid() == 0;
  auto unpacked = layers::unpack_layer(context.dir, out.get(), options);
  if (!unpacked) return std::move(unpacked).error().context("unpacking the context tar from stdin");
  const std::string rel = dockerfile.empty() ? "Dockerfile" : dockerfile;
  layers::UniqueFd root(::open(context.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return layers::Error::from_errno("opening " + layers::quoted(context.dir));
  auto entry = open_source_entry(root.get(), rel);
  if (!entry) return std::move(entry).error().context("the Dockerfile " + layers::quoted(rel) + " of the context tar");
  if (!S_ISREG(entry->st.st_mode) || entry->st.st_size > static_cast<off_t>(kMaxStdinDockerfileBytes))
    return layers::Error(layers::ErrorKind::InvalidInput, "the Dockerfile " + layers::quoted(rel) +
                                                              " of the context tar is not a regular file of at most 16 MiB");
  auto data = open_source_data(root.get(), rel, entry->st);
  if (!data) return std::move(data).error();
  std::string text;
  while (true) {
    ssize_t n = ::read(data->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return layers::Error::from_errno("reading the Dockerfile " + layers::quoted(rel));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  context.dockerfile_text = std::move(text);
  return context;
}


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

EntryInputs entry_inputs(const EntryList& list) {
  EntryInputs out;
  for (const auto& [path, entry] : list) out.insert_or_assign(path, entry);
  return out;
}

void ContentHasher::add_text(std::string_view text) {
  char length[24];
  char* end = std::to_chars(length, length + sizeof length, text.size()).ptr;
  pending_.append(length, end).append(1, ':').append(text);
  if (pending_.size() >= (size_t(1) << 16)) {
    hash_.update(pending_);
    pending_.clear();
  }
}

layers::Digest ContentHasher::finish() {
  hash_.update(pending_);
  pending_.clear();
  return hash_.finish();
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

namespace {

// O_NONBLOCK: should a FIFO have been swapped in, the open returns at once (and the check
// below refuses it) instead of waiting for a writer.
constexpr int kDataFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

// `fd` (just opened for `shown`, errno telling why when it failed) if it is still the
// regular file `expected`.
Result<layers::UniqueFd> checked_data(layers::UniqueFd fd, const std::string& shown, const struct stat& expected) {
  if (!fd) return Error::from_errno("opening " + layers::quoted(shown));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno("stat " + layers::quoted(shown));
  if (!S_ISREG(st.st_mode) || st.st_dev != expected.st_dev || st.st_ino != expected.st_ino)
    return Error(ErrorKind::InvalidInput, layers::quoted(shown) + " changed while it was being read");
  return fd;
}

}  // namespace

Result<layers::UniqueFd> open_source_data(int root_fd, const std::string& rel, const struct stat& expected) {
  if (!S_ISREG(expected.st_mode))
    return Error(ErrorKind::InvalidInput, layers::quoted(rel) + " is not a regular file");
  return checked_data(layers::UniqueFd(layers::open_in_root_clamped(root_fd, rel, kDataFlags)), rel, expected);
}

Result<layers::UniqueFd> open_file_data(const std::string& path, const struct stat& expected) {
  if (!S_ISREG(expected.st_mode))
    return Error(ErrorKind::InvalidInput, layers::quoted(path) + " is not a regular file");
  return checked_data(layers::UniqueFd(::open(path.c_str(), kDataFlags | O_CLOEXEC)), path, expected);
}

Result<std::string> read_source_link(const SourceEntry& entry, const std::string& rel) {
  std::vector<char> target(size_t(entry.st.st_size) + 2);
  ssize_t n = ::readlinkat(entry.fd.get(), "", target.data(), target.size());
  if (n < 0) return Error::from_errno("reading link " + layers::quoted(rel));
  if (size_t(n) >= target.size())
    return Error(ErrorKind::InvalidInput, "link " + layers::quoted(rel) + " changed while it was being read");
  return std::string(target.data(), size_t(n));
}

Result<void> ContentHasher::add(std::string_view dest_rel, int root_fd, const std::string& rel,
                                const struct stat* listed_st) {
  // A regular file the memo knows by the stat its directory listing gave is not opened:
  // a rebuild with nothing changed costs one fstatat per file.
  const bool is_asked = memo_ && listed_st && S_ISREG(listed_st->st_mode);
  std::optional<std::string> known = is_asked ? memo_->find(rel, *listed_st) : std::nullopt;
  Result<SourceEntry> entry = SourceEntry{};
  if (known) entry->st = *listed_st;
  else entry = open_source_entry(root_fd, rel);
  if (!entry) return std::move(entry).error().context("hashing");
  const struct stat& st = entry->st;
  // Not the owner: a copy writes --chown's (0:0 by default), never the source's, and the
  // checkout's owner differs between machines that must compute the same key.
  // "<octal mode> <size>", as printf's "%o %lld" writes them (to_chars: once per file).
  char meta[64];
  char* end = std::to_chars(meta, meta + 24, static_cast<unsigned>(st.st_mode), 8).ptr;
  *end++ = ' ';
  end = std::to_chars(end, meta + sizeof meta, static_cast<long long>(S_ISREG(st.st_mode) ? st.st_size : 0)).ptr;
  add_text(dest_rel);
  add_text(std::string_view(meta, size_t(end - meta)));
  EntryInput& listed = entries_.emplace_back(rel.empty() ? "." : rel, EntryInput{}).second;
  listed.mode = st.st_mode;
  if (S_ISLNK(st.st_mode)) {
    auto target = read_source_link(*entry, rel);
    if (!target) return std::move(target).error();
    add_text(*target);
    listed.digest = layers::Digest::of(*target).str();
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    add_text(std::to_string(st.st_rdev));
    listed.digest = layers::Digest::of(std::to_string(st.st_rdev)).str();
  } else if (S_ISREG(st.st_mode)) {
    ++files_;
    if (memo_ && !is_asked) known = memo_->find(rel, st);
    if (known) {
      listed.digest = std::move(*known);
      add_text(listed.digest);
      return {};
    }
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
    ++hashed_;
    const layers::Digest digest = file_hash.finish();
    listed.digest = digest.str();
    add_text(listed.digest);
    // Remembered only when the file did not change while it was read: the digest is of
    // the bytes that stat stood for.
    struct stat after;
    if (memo_ && ::fstat(fd->get(), &after) == 0 && ContextMemo::Stamp::of(after) == ContextMemo::Stamp::of(st))
      memo_->record(rel, st, digest);
  }
  return {};
}

}  // namespace builder
