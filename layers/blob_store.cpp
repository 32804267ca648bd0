#include "layers/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
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

// PageCache::Bypass: the caller fills one page-aligned piece while this thread writes the
// last full one with O_DIRECT, so a layer's tar writer or compressor does not wait for the
// disk (a 1 MiB direct write took 0.9-1.3 ms here: 0.34 s of the compressing thread's ~2 s
// in a push of a 512 MiB layer). A failed write is reported by the next write or commit.
struct BlobWriter::DirectPieces {
  DirectPieces(int fd_in, std::string path_in) : fd(fd_in), path(std::move(path_in)) {}
  ~DirectPieces() {
    {
      std::lock_guard lock(mu);
      is_stopping = true;
    }
    changed.notify_all();
    if (thread.joinable()) thread.join();
  }

  const int fd;  // the writer's (it outlives this)
  const std::string path;
  AlignedBuffer filling;  // the caller's: `used` bytes so far
  size_t used = 0;
  AlignedBuffer writing;  // the thread's while is_busy
  std::atomic<bool> is_direct{true};  // O_DIRECT still on fd
  std::atomic<uint64_t> on_file{0};
  std::mutex mu;
  std::condition_variable changed;
  bool is_busy = false;
  bool is_stopping = false;
  std::optional<Error> failed;
  std::thread thread;

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      changed.wait(lock, [&] { return is_busy || is_stopping; });
      if (!is_busy) return;
      lock.unlock();
      auto r = put(writing.get(), kDirectPiece);
      if (r) on_file += kDirectPiece;
      lock.lock();
      if (!r && !failed) failed = std::move(r).error();
      is_busy = false;
      changed.notify_all();
    }
  }

  // Waits for the piece being written; its error, if it failed.
  Result<void> idle() {
    std::unique_lock lock(mu);
    changed.wait(lock, [&] { return !is_busy; });
    if (failed) return *failed;
    return {};
  }

  // The full `filling` to the thread; the caller goes on with the other buffer.
  Result<void> hand_over() {
    if (auto r = idle(); !r) return r;
    std::swap(filling, writing);
    used = 0;
    {
      std::lock_guard lock(mu);
      is_busy = true;
    }
    changed.notify_all();
    return {};
  }

  // Writes `size` bytes at the file's end, with O_DIRECT while is_direct is set; a direct
  // write refused (or short) clears it for good and writes through the cache.
  Result<void> put(const std::byte* data, size_t size) {
    if (is_direct) {
      ssize_t n;
      do n = ::write(fd, data, size);
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
    return write_fully(fd, reinterpret_cast<const char*>(data), size, path);
  }

  Result<void> stop_direct() {
    if (!is_direct) return {};
    if (!set_direct_io(fd, false)) return Error::from_errno("write " + layers::quoted(path));
    is_direct = false;
    return {};
  }
};

BlobWriter::BlobWriter(std::string blobs_dir, std::string tmp_path, UniqueFd fd, Hashing hashing)
    : blobs_dir_(std::move(blobs_dir)), tmp_path_(std::move(tmp_path)), fd_(std::move(fd)), hashing_(hashing) {}

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : blobs_dir_(std::move(other.blobs_dir_)),
      tmp_path_(std::exchange(other.tmp_path_, std::string())),
      fd_(std::move(other.fd_)),
      hashing_(other.hashing_),
      hash_(std::move(other.hash_)),
      bytes_written_(other.bytes_written_),
      pieces_(std::move(other.pieces_)) {}

BlobWriter& BlobWriter::operator=(BlobWriter&& other) noexcept {
  if (this != &other) {
    discard();
    blobs_dir_ = std::move(other.blobs_dir_);
    tmp_path_ = std::exchange(other.tmp_path_, std::string());
    fd_ = std::move(other.fd_);
    hashing_ = other.hashing_;
    hash_ = std::move(other.hash_);
    bytes_written_ = other.bytes_written_;
    pieces_ = std::move(other.pieces_);
  }
  return *this;
}

BlobWriter::~BlobWriter() { discard(); }

void BlobWriter::discard() {
  pieces_.reset();  // its thread stops writing to the fd first
  if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  tmp_path_.clear();
  fd_.reset();
}

uint64_t BlobWriter::bytes_on_file() const {
  return pieces_ ? pieces_->on_file.load() : bytes_written_;
}

Result<void> BlobWriter::write(std::span<const std::byte> data) {
  if (!fd_) return Error(ErrorKind::InvalidInput, "writing to a blob writer that is spent");
  if (hashing_ == Hashing::ByWriter) hash_.update(data);
  bytes_written_ += data.size();
  if (pieces_) {
    // Whole aligned pieces only, at aligned offsets: what O_DIRECT takes.
    DirectPieces& p = *pieces_;
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kDirectPiece - p.used);
      std::memcpy(p.filling.get() + p.used, data.data(), n);
      p.used += n;
      data = data.subspan(n);
      if (p.used == kDirectPiece)
        if (auto r = p.hand_over(); !r) return r;
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
  UniqueFd fd(::open(tmp_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("open " + layers::quoted(tmp_path_));
  // Read as it is written: past the cache (refused, through it; either way the same bytes).
  if (pieces_ && pieces_->is_direct) (void)set_direct_io(fd.get(), true);
  return fd;
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
  if (pieces_) {
    // The pieces on their way, then a short last one through the cache, which takes any size.
    DirectPieces& p = *pieces_;
    auto r = p.idle();
    if (r && p.used > 0) r = p.stop_direct();
    if (r && p.used > 0) r = p.put(p.filling.get(), p.used);
    if (!r) {
      discard();
      return std::move(r).error();
    }
    pieces_.reset();
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
      auto pieces = std::make_unique<BlobWriter::DirectPieces>(writer.fd_.get(), writer.tmp_path_);
      pieces->filling = make_aligned_buffer(kDirectPiece);
      pieces->writing = make_aligned_buffer(kDirectPiece);
      if (!pieces->filling || !pieces->writing) return Error(ErrorKind::Io, "out of memory for a blob's write buffers");
      try {
        pieces->thread = std::thread([p = pieces.get()] { p->run(); });
      } catch (const std::system_error& e) {
        return Error(ErrorKind::Io, std::string("starting a blob's writer thread: ") + e.what());
      }
      writer.pieces_ = std::move(pieces);
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
