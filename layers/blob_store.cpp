#include "layers/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "layers/remove_tree.h"

namespace layers {

namespace {

Result<void> write_fully(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write " + layers::quoted(path));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

// A temp file under `dir`, flocked so prune can tell it is alive. The inode check closes
// the window in which prune could unlink the file between mkstemp and flock.
Result<std::pair<std::string, UniqueFd>> make_locked_temp(const std::string& dir,
                                                          std::string_view prefix) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string tmpl = dir + "/" + std::string(prefix) + "XXXXXX";
    UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) return Error::from_errno("creating a temp file in " + layers::quoted(dir));
    if (::flock(fd.get(), LOCK_EX) != 0) return Error::from_errno("flock " + layers::quoted(tmpl));
    struct stat by_fd {}, by_path {};
    if (::fstat(fd.get(), &by_fd) == 0 && ::stat(tmpl.c_str(), &by_path) == 0 &&
        by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev)
      return std::pair{std::move(tmpl), std::move(fd)};
  }
  return Error(ErrorKind::Io, "creating a temp file in " + layers::quoted(dir) + ": it keeps vanishing");
}

bool is_hex64(std::string_view name) {
  if (name.size() != 64) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Result<void> make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Error(ErrorKind::Io, "creating directory " + layers::quoted(path), ec.value());
  return {};
}

Result<void> fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening directory " + layers::quoted(dir));
  if (::fsync(fd.get()) != 0) return Error::from_errno("fsync " + layers::quoted(dir));
  return {};
}

namespace {

// Adds the regular files and directories beneath the directory `dir_fd` (opened O_RDONLY)
// to `out` as open descriptors, depth first; false as soon as there are more than
// kSyncEachEntries (or one cannot be opened: the caller syncs the filesystem instead).
bool open_tree(int dir_fd, std::vector<UniqueFd>& out) {
  UniqueFd listing(::dup(dir_fd));
  if (!listing) return false;
  DIR* d = ::fdopendir(listing.get());
  if (!d) return false;
  (void)listing.release();
  ::rewinddir(d);
  bool ok = true;
  while (dirent* de = ::readdir(d)) {
    std::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ok = false;
      break;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;  // a symlink, node: no data
    if (out.size() >= kSyncEachEntries) {
      ok = false;
      break;
    }
    UniqueFd fd(::openat(::dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                                                      (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0)));
    if (!fd) {
      ok = false;
      break;
    }
    const int opened = fd.get();
    out.push_back(std::move(fd));
    if (S_ISDIR(st.st_mode) && !open_tree(opened, out)) {
      ok = false;
      break;
    }
  }
  ::closedir(d);
  return ok;
}

}  // namespace

Result<void> sync_tree(const std::string& dir) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::from_errno("opening " + layers::quoted(dir));
  std::vector<UniqueFd> each;
  if (!open_tree(root.get(), each)) {
    if (::syncfs(root.get()) != 0) return Error::from_errno("syncfs " + layers::quoted(dir));
    return {};
  }
  // Every file's writeback first, then the waits: the disk sees them together.
  for (const UniqueFd& fd : each) (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  for (const UniqueFd& fd : each)
    if (::fsync(fd.get()) != 0) return Error::from_errno("fsync beneath " + layers::quoted(dir));
  if (::fsync(root.get()) != 0) return Error::from_errno("fsync " + layers::quoted(dir));
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view data) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  std::string tmpl = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) return Error::from_errno("creating a temp file beside " + layers::quoted(path));
  auto cleanup = [&] { ::unlink(tmpl.c_str()); };
  if (auto r = write_fully(fd.get(), data.data(), data.size(), tmpl); !r) {
    cleanup();
    return r;
  }
  if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
    Error e = Error::from_errno("fsync " + layers::quoted(tmpl));
    cleanup();
    return e;
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    Error e = Error::from_errno("renaming " + layers::quoted(tmpl) + " to " + layers::quoted(path));
    cleanup();
    return e;
  }
  return fsync_dir(dir);
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening " + layers::quoted(path));
  return read_fd(fd.get(), path, max_bytes);
}

Result<std::string> read_fd(int fd, const std::string& what, size_t max_bytes) {
  std::string out;
  // A regular file's size is a hint (it may still grow or shrink while read): a memo of
  // megabytes is then read without the string growing and copying on the way.
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && size_t(st.st_size) <= max_bytes)
    out.reserve(size_t(st.st_size));
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("reading " + layers::quoted(what));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes)
      return Error(ErrorKind::InvalidInput,
                   layers::quoted(what) + " is over the limit of " + std::to_string(max_bytes) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// ---- BlobWriter ----

BlobWriter::BlobWriter(std::string blobs_dir, std::string tmp_path, UniqueFd fd, Hashing hashing)
    : blobs_dir_(std::move(blobs_dir)), tmp_path_(std::move(tmp_path)), fd_(std::move(fd)), hashing_(hashing) {}

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : blobs_dir_(std::move(other.blobs_dir_)),
      tmp_path_(std::exchange(other.tmp_path_, std::string())),
      fd_(std::move(other.fd_)),
      hashing_(other.hashing_),
      hash_(std::move(other.hash_)),
      bytes_written_(other.bytes_written_),
      direct_(other.direct_),
      piece_(std::move(other.piece_)),
      piece_used_(other.piece_used_) {}

BlobWriter& BlobWriter::operator=(BlobWriter&& other) noexcept {
  if (this != &other) {
    discard();
    blobs_dir_ = std::move(other.blobs_dir_);
    tmp_path_ = std::exchange(other.tmp_path_, std::string());
    fd_ = std::move(other.fd_);
    hashing_ = other.hashing_;
    hash_ = std::move(other.hash_);
    bytes_written_ = other.bytes_written_;
    direct_ = other.direct_;
    piece_ = std::move(other.piece_);
    piece_used_ = other.piece_used_;
  }
  return *this;
}

BlobWriter::~BlobWriter() { discard(); }

void BlobWriter::discard() {
  if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  tmp_path_.clear();
  fd_.reset();
}

Result<void> BlobWriter::stop_direct() {
  if (!direct_) return {};
  if (!set_direct_io(fd_.get(), false)) return Error::from_errno("write " + layers::quoted(tmp_path_));
  direct_ = false;
  return {};
}

Result<void> BlobWriter::put(const std::byte* data, size_t size) {
  if (direct_) {
    ssize_t n;
    do n = ::write(fd_.get(), data, size);
    while (n < 0 && errno == EINTR);
    if (n == ssize_t(size)) return {};
    // Refused (EINVAL: this filesystem's alignment, or no direct I/O after all), or short
    // (a full disk): the rest goes through the cache, where a real error shows again.
    if (auto r = stop_direct(); !r) return r;
    if (n > 0) {
      data += n;
      size -= size_t(n);
    }
  }
  return write_fully(fd_.get(), reinterpret_cast<const char*>(data), size, tmp_path_);
}

Result<void> BlobWriter::write(std::span<const std::byte> data) {
  if (!fd_) return Error(ErrorKind::InvalidInput, "writing to a blob writer that is spent");
  if (hashing_ == Hashing::ByWriter) hash_.update(data);
  bytes_written_ += data.size();
  if (piece_) {
    // Whole aligned pieces only, at aligned offsets: what O_DIRECT takes.
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kDirectPiece - piece_used_);
      std::memcpy(piece_.get() + piece_used_, data.data(), n);
      piece_used_ += n;
      data = data.subspan(n);
      if (piece_used_ == kDirectPiece) {
        if (auto r = put(piece_.get(), kDirectPiece); !r) return r;
        piece_used_ = 0;
      }
    }
    return {};
  }
  if (auto r = write_fully(fd_.get(), reinterpret_cast<const char*>(data.data()), data.size(),
                           tmp_path_);
      !r)
    return r;
  return {};
}

Result<UniqueFd> BlobWriter::open_reader() const {
  if (!fd_) return Error(ErrorKind::InvalidInput, "reading a blob writer that is spent");
  if (piece_) return Error(ErrorKind::InvalidInput, "reading a blob written past the page cache");
  int fd = ::open(tmp_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open " + layers::quoted(tmp_path_));
  return UniqueFd(fd);
}

Result<void> BlobWriter::write(std::string_view data) {
  return write(std::as_bytes(std::span(data.data(), data.size())));
}

Result<Digest> BlobWriter::commit(std::optional<Digest> expected) {
  if (!fd_) return Error(ErrorKind::InvalidInput, "committing a blob writer that is spent");
  if (hashing_ == Hashing::ByCaller && !expected) {
    discard();
    return Error(ErrorKind::InvalidInput, "committing a blob hashed by its writer's caller without its digest");
  }
  Digest actual = hashing_ == Hashing::ByCaller ? *expected : hash_.finish();
  if (expected && *expected != actual) {
    discard();
    return Error(ErrorKind::Corrupt,
                 "blob content is " + actual.str() + ", expected " + expected->str());
  }
  if (piece_used_ > 0) {
    // The last piece is short: through the cache, which takes any size.
    auto r = stop_direct();
    if (r) r = put(piece_.get(), piece_used_);
    if (!r) {
      discard();
      return std::move(r).error();
    }
    piece_used_ = 0;
  }
  if (::fchmod(fd_.get(), 0644) != 0 || ::fsync(fd_.get()) != 0) {
    Error e = Error::from_errno("fsync " + layers::quoted(tmp_path_));
    discard();
    return e;
  }
  std::string target = blobs_dir_ + "/" + std::string(actual.hex());
  if (::rename(tmp_path_.c_str(), target.c_str()) != 0) {
    Error e = Error::from_errno("renaming " + layers::quoted(tmp_path_) + " to " + layers::quoted(target));
    discard();
    return e;
  }
  tmp_path_.clear();
  fd_.reset();
  if (auto r = fsync_dir(blobs_dir_); !r) return std::move(r).error();
  return actual;
}

// ---- BlobStore ----

Result<BlobStore> BlobStore::open(const std::string& root) {
  BlobStore store(root, root + "/blobs/sha256", root + "/hoist-tmp");
  if (auto r = make_dirs(store.blobs_dir_); !r) return std::move(r).error().context("opening blob store");
  if (auto r = make_dirs(store.tmp_dir_); !r) return std::move(r).error().context("opening blob store");
  return store;
}

std::string BlobStore::path_of(const Digest& digest) const {
  return blobs_dir_ + "/" + std::string(digest.hex());
}

bool BlobStore::has(const Digest& digest) const {
  struct stat st {};
  return ::stat(path_of(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<UniqueFd> BlobStore::open_read(const Digest& digest) const {
  UniqueFd fd(::open(path_of(digest).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return Error(ErrorKind::NotFound, "blob " + digest.str() + " is not in the store");
    return Error::from_errno("opening blob " + digest.str());
  }
  return fd;
}

Result<uint64_t> BlobStore::size(const Digest& digest) const {
  struct stat st {};
  if (::stat(path_of(digest).c_str(), &st) != 0) {
    if (errno == ENOENT) return Error(ErrorKind::NotFound, "blob " + digest.str() + " is not in the store");
    return Error::from_errno("stat blob " + digest.str());
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> BlobStore::read_all(const Digest& digest, size_t max_bytes) const {
  auto size_or = size(digest);
  if (!size_or) return std::move(size_or).error();
  if (*size_or > max_bytes)
    return Error(ErrorKind::InvalidInput, "blob " + digest.str() + " is " +
                                              std::to_string(*size_or) +
                                              " bytes, over the limit of " +
                                              std::to_string(max_bytes));
  auto text = read_file(path_of(digest), max_bytes);
  if (!text) {
    if (text.error().kind() == ErrorKind::NotFound)
      return Error(ErrorKind::NotFound, "blob " + digest.str() + " is not in the store");
    return std::move(text).error();
  }
  if (Digest::of(*text) != digest)
    return Error(ErrorKind::Corrupt, "blob " + digest.str() + " does not match its digest");
  return text;
}

Result<BlobWriter> BlobStore::begin_write(Hashing hashing, PageCache cache) const {
  auto tmp = make_locked_temp(tmp_dir_, "blob-");
  if (!tmp) return std::move(tmp).error();
  BlobWriter writer(blobs_dir_, std::move(tmp->first), std::move(tmp->second), hashing);
  if (cache == PageCache::Bypass) {
    // Refused where the filesystem has no direct I/O: then the cache, as for Use.
    if (set_direct_io(writer.fd_.get(), true)) {
      writer.piece_ = make_aligned_buffer(kDirectPiece);
      if (!writer.piece_) return Error(ErrorKind::Io, "out of memory for a blob's write buffer");
      writer.direct_ = true;
    }
  }
  return writer;
}

Result<Digest> BlobStore::put_bytes(std::string_view data) const {
  Digest digest = Digest::of(data);
  if (has(digest)) return digest;
  auto writer = begin_write();
  if (!writer) return std::move(writer).error();
  if (auto r = writer->write(data); !r) return std::move(r).error();
  return writer->commit(digest);
}

Result<void> BlobStore::copy_from(const BlobStore& source, const Digest& digest) const {
  if (has(digest)) return {};
  auto data = source.open_read(digest);
  if (!data) return std::move(data).error();
  auto writer = begin_write();
  if (!writer) return std::move(writer).error();
  std::unique_ptr<std::byte[]> buf(new std::byte[1 << 16]);
  while (true) {
    ssize_t n = ::read(data->get(), buf.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("reading blob " + digest.str() + " in " + layers::quoted(source.root()));
    }
    if (n == 0) break;
    if (auto r = writer->write(std::span<const std::byte>(buf.get(), static_cast<size_t>(n))); !r) return r;
  }
  auto committed = writer->commit(digest);
  if (!committed) return std::move(committed).error().context("copying blob " + digest.str() + " from " + layers::quoted(source.root()));
  return {};
}

Result<void> BlobStore::verify(const Digest& digest) const {
  auto fd = open_read(digest);
  if (!fd) return std::move(fd).error();
  Sha256 hash;
  std::unique_ptr<std::byte[]> buf(new std::byte[1 << 16]);
  while (true) {
    ssize_t n = ::read(fd->get(), buf.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("reading blob " + digest.str());
    }
    if (n == 0) break;
    hash.update(std::span(buf.get(), static_cast<size_t>(n)));
  }
  Digest actual = hash.finish();
  if (actual != digest)
    return Error(ErrorKind::Corrupt, "blob " + digest.str() + " holds content " + actual.str());
  return {};
}

Result<void> BlobStore::remove(const Digest& digest) const {
  if (::unlink(path_of(digest).c_str()) != 0) {
    if (errno == ENOENT) return Error(ErrorKind::NotFound, "blob " + digest.str() + " is not in the store");
    return Error::from_errno("removing blob " + digest.str());
  }
  return {};
}

Result<BlobStore::Listing> BlobStore::list() const {
  Listing out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(blobs_dir_.c_str()), ::closedir);
  if (!dir) return Error::from_errno("listing " + layers::quoted(blobs_dir_));
  while (dirent* e = ::readdir(dir.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    bool regular = ::lstat((blobs_dir_ + "/" + std::string(name)).c_str(), &st) == 0 &&
                   S_ISREG(st.st_mode);
    if (regular && is_hex64(name)) {
      out.blobs.push_back(*Digest::from_hex(name));
    } else {
      out.strays.emplace_back(name);
    }
  }
  std::sort(out.blobs.begin(), out.blobs.end());
  std::sort(out.strays.begin(), out.strays.end());
  return out;
}

Result<size_t> BlobStore::remove_dead_temp_files() const {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(tmp_dir_.c_str()), ::closedir);
  if (!dir) return Error::from_errno("listing " + layers::quoted(tmp_dir_));
  size_t removed = 0;
  while (dirent* e = ::readdir(dir.get())) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = tmp_dir_ + "/" + std::string(name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) continue;
    // A writer holds LOCK_EX on its temp file (or directory) until it commits or dies.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
      auto gone = remove_tree(path);
      if (!gone) return std::move(gone).error();
      if (*gone) ++removed;
      continue;
    }
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace layers
