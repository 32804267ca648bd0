#include "builder/context_memo.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <vector>

#include "layers/blob_store.h"
#include "layers/digest.h"
#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::Result;

namespace {

constexpr std::string_view kHeader = "hoist context memo 1\n";
constexpr size_t kMaxMemoBytes = size_t(256) << 20;  // ~1.3 million files
constexpr int64_t kMargin = 100'000'000;             // ns, for nanosecond timestamps
constexpr int64_t kCoarseMargin = 2'000'000'000;     // ns, for timestamps in seconds
// An entry's line is at least this long (the digest, 8 numbers, a path): parse() reserves
// room for text.size() / kMinEntryBytes entries at most.
constexpr size_t kMinEntryBytes = 64 + 1 + 8 * 2 + 3;

int64_t to_ns(int64_t sec, int64_t nsec) {
  return sec * 1'000'000'000 + nsec;
}

// A strict reader of the memo's lines: every field must be exactly where it is expected.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool literal(std::string_view s) {
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  // Digits (base `base`) up to the next `end` character, which is consumed.
  template <typename T>
  bool number(T& out, char end, int base = 10) {
    const char* first = text_.data() + pos_;
    const char* last = text_.data() + text_.size();
    auto [ptr, ec] = std::from_chars(first, last, out, base);
    if (ec != std::errc() || ptr == first || ptr == last || *ptr != end) return false;
    pos_ += size_t(ptr - first) + 1;
    return true;
  }
  // "<length>:<bytes>" followed by `end`.
  bool sized(std::string_view& out, char end) {
    size_t n = 0;
    if (!number(n, ':') || n > text_.size() - pos_) return false;
    out = text_.substr(pos_, n);
    pos_ += n;
    return literal(std::string_view(&end, 1));
  }
  bool hex64(std::string_view& out, char end) {
    if (text_.size() - pos_ < 65) return false;
    std::string_view hex = text_.substr(pos_, 64);
    auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    if (!std::all_of(hex.begin(), hex.end(), is_hex) || text_[pos_ + 64] != end) return false;
    out = hex;
    pos_ += 65;
    return true;
  }
  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// The header of a memo: the context directory it is of (format() writes it first).
bool read_header(Reader& in, std::string_view& context_dir) {
  return in.literal(kHeader) && in.literal("dir ") && in.sized(context_dir, '\n');
}

}  // namespace

ContextMemo::Stamp ContextMemo::Stamp::of(const struct stat& st) {
  return {uint64_t(st.st_dev), uint64_t(st.st_ino), uint32_t(st.st_mode), int64_t(st.st_size),
          st.st_mtim.tv_sec,   st.st_mtim.tv_nsec,  st.st_ctim.tv_sec,    st.st_ctim.tv_nsec};
}

std::string ContextMemo::format(const std::string& context_dir, const Entries& entries) {
  std::string text(kHeader);
  text += "dir " + std::to_string(context_dir.size()) + ":" + context_dir + "\n";
  // In path order, the order a walk of the context asks for them: parse() then lays the
  // entries out in memory in that order, and a rebuild's lookups go through it forwards
  // (a tenth of the lookups' time, the rest being cache misses). It also makes the file
  // the same for the same entries.
  std::vector<const Entries::value_type*> sorted;
  sorted.reserve(entries.size());
  for (const auto& item : entries) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  char line[256];
  for (const auto* item : sorted) {
    const auto& [rel, entry] = *item;
    const Stamp& s = entry.stamp;
    std::snprintf(line, sizeof line, "%.*s %llu %llu %o %lld %lld %lld %lld %lld ",
                  int(entry.hex.size()), entry.hex.data(), (unsigned long long)s.dev, (unsigned long long)s.ino,
                  s.mode, (long long)s.size, (long long)s.mtime_sec, (long long)s.mtime_nsec,
                  (long long)s.ctime_sec, (long long)s.ctime_nsec);
    text += line;
    text += std::to_string(rel.size());
    text += ':';
    text += rel;
    text += '\n';
  }
  const std::string sum(layers::Digest::of(text).hex());
  text += "end " + std::to_string(entries.size()) + " " + sum + "\n";
  return text;
}

std::optional<ContextMemo::Entries> ContextMemo::parse(const std::string& context_dir,
                                                       std::string_view text) {
  Reader in(text);
  std::string_view dir;
  if (!read_header(in, dir) || dir != context_dir)
    return std::nullopt;
  Entries entries;
  entries.reserve(text.size() / kMinEntryBytes);
  while (!in.literal("end ")) {
    std::string_view rel;
    Entry entry;
    Stamp& s = entry.stamp;
    if (!in.hex64(entry.hex, ' ') || !in.number(s.dev, ' ') || !in.number(s.ino, ' ') ||
        !in.number(s.mode, ' ', 8) || !in.number(s.size, ' ') || !in.number(s.mtime_sec, ' ') ||
        !in.number(s.mtime_nsec, ' ') || !in.number(s.ctime_sec, ' ') ||
        !in.number(s.ctime_nsec, ' ') || !in.sized(rel, '\n'))
      return std::nullopt;
    if (rel.empty() || rel.starts_with('/') || !S_ISREG(s.mode)) return std::nullopt;
    if (!entries.emplace(rel, entry).second) return std::nullopt;
  }
  const size_t end = in.pos() - 4;
  size_t count = 0;
  std::string_view sum;
  if (!in.number(count, ' ') || !in.hex64(sum, '\n') || !in.at_end() || count != entries.size() ||
      sum != layers::Digest::of(text.substr(0, end)).hex())
    return std::nullopt;
  return entries;
}

std::shared_ptr<ContextMemo> ContextMemo::load(const layers::Store& store,
                                               const std::string& context_dir) {
  std::shared_ptr<ContextMemo> memo(new ContextMemo());
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  memo->loaded_sec_ = now.tv_sec;
  memo->loaded_nsec_ = now.tv_nsec;
  std::error_code ec;
  auto canonical = std::filesystem::canonical(context_dir, ec);
  memo->context_dir_ = ec ? context_dir : canonical.string();
  const std::string name = "context-" + std::string(layers::Digest::of(memo->context_dir_).hex());
  memo->path_ = store.cache_dir() + "/" + name + ".memo";
  memo->lock_path_ = store.locks_dir() + "/" + name + ".lock";
  return memo;
}

std::string_view ContextMemo::keep(std::string text) {
  return kept_.emplace_back(std::move(text));  // a deque: kept strings never move
}

void ContextMemo::read_once() {
  if (is_read_) return;
  is_read_ = true;
  if (auto text = layers::read_file(path_, kMaxMemoBytes))
    if (auto entries = parse(context_dir_, keep(std::move(*text)))) entries_ = std::move(*entries);
}

std::optional<std::string> ContextMemo::find(const std::string& rel, const struct stat& st) {
  ++files_;
  std::lock_guard guard(mutex_);
  read_once();
  auto it = entries_.find(rel);
  if (it != entries_.end()) {
    it->second.is_seen = true;
    if (it->second.stamp == Stamp::of(st)) return "sha256:" + std::string(it->second.hex);
  }
  ++hashed_;
  return std::nullopt;
}

void ContextMemo::record(const std::string& rel, const struct stat& st, const layers::Digest& digest) {
  const int64_t loaded = to_ns(loaded_sec_, loaded_nsec_);
  auto is_settled = [&](const timespec& t) {
    return to_ns(t.tv_sec, t.tv_nsec) < loaded - (t.tv_nsec == 0 ? kCoarseMargin : kMargin);
  };
  std::lock_guard guard(mutex_);
  read_once();
  if (is_settled(st.st_mtim) && is_settled(st.st_ctim)) {
    const std::string_view hex = keep(std::string(digest.hex()));
    auto it = entries_.find(rel);
    if (it == entries_.end()) it = entries_.emplace(keep(rel), Entry{}).first;
    it->second = Entry{Stamp::of(st), hex, true};
    is_changed_ = true;
  } else if (entries_.erase(rel) > 0) {
    is_changed_ = true;
  }
}

Result<void> ContextMemo::save() {
  std::lock_guard guard(mutex_);
  if (!is_changed_) return {};  // then read_once() was not needed
  auto lock = layers::FileLock::acquire(lock_path_, true);
  if (!lock) return std::move(lock).error().context("saving the context memo");
  // A build of the same context that saved since load() keeps the entries this one lacks.
  if (auto text = layers::read_file(path_, kMaxMemoBytes))
    if (auto saved = parse(context_dir_, keep(std::move(*text))))
      for (auto& [rel, entry] : *saved)
        entries_.try_emplace(rel, Entry{entry.stamp, entry.hex, false});
  // Entries this build did not look at stay while their file is as it was.
  layers::UniqueFd root(::open(context_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return Error::from_errno("saving the context memo: opening " + layers::quoted(context_dir_));
  for (auto it = entries_.begin(); it != entries_.end();) {
    struct stat st;
    if (!it->second.is_seen &&
        (::fstatat(root.get(), std::string(it->first).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
         Stamp::of(st) != it->second.stamp))
      it = entries_.erase(it);
    else
      ++it;
  }
  if (auto r = layers::write_file_atomic(path_, format(context_dir_, entries_)); !r)
    return std::move(r).error().context("saving the context memo");
  is_changed_ = false;
  return {};
}

Result<size_t> ContextMemo::prune(const layers::Store& store) {
  const std::string dir = store.cache_dir();
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return size_t(0);
  if (ec) return Error(layers::ErrorKind::Io, "listing " + layers::quoted(dir) + ": " + ec.message());
  // Whether the context directory a memo names is gone; a failure to tell keeps the memo.
  auto is_gone = [](const std::string& context_dir) {
    struct stat st;
    if (::stat(context_dir.c_str(), &st) == 0) return !S_ISDIR(st.st_mode);
    return errno == ENOENT || errno == ENOTDIR;
  };
  size_t removed = 0;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("context-") || !name.ends_with(".memo")) continue;
    auto text = layers::read_file(entry.path().string(), kMaxMemoBytes);
    if (!text) continue;
    Reader in(*text);
    std::string_view header_dir;
    if (!read_header(in, header_dir)) continue;
    const std::string context_dir(header_dir);
    if (!is_gone(context_dir))
      continue;
    // Under the lock save() takes, so no build is between reading and renaming it.
    const std::string stem = name.substr(0, name.size() - std::string_view(".memo").size());
    auto lock = layers::FileLock::acquire(store.locks_dir() + "/" + stem + ".lock", true);
    if (!lock) return std::move(lock).error().context("removing the context memo " + layers::quoted(name));
    if (!is_gone(context_dir)) continue;  // made again meanwhile
    if (::unlink(entry.path().c_str()) != 0 && errno != ENOENT)
      return Error::from_errno("removing " + layers::quoted(entry.path().string()));
    ++removed;
  }
  return removed;
}

}  // namespace builder
