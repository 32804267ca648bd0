#pragma once
// Listing the directories of a source tree (the context, or a stage's root) for a COPY's
// walk, with their entries' stat, one directory ahead on a second thread.
//
// A rebuild with nothing changed is a stat of every file of the context (issue 12: a
// no-change rebuild of 20,000 files in under 100 ms). The stats are kernel time the walk
// itself does not need to wait for: while it hashes (or finds in the memo) one
// directory's files, ListingPrefetcher lists and stats the directories it said it will
// enter next, and the walk lists one itself when that is quicker than waiting.

#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "layers/error.h"
#include "layers/unique_fd.h"

namespace builder {

struct DirEntry {
  std::string name;
  struct stat st {};  // fstatat, not followed
};

// The names in the directory open at `dir_fd` (not "." and ".."), sorted. `dir_fd` stays
// open and where it was (the listing reads a descriptor of its own). Errors name `what`.
layers::Result<std::vector<std::string>> list_dir_names(int dir_fd, const std::string& what);

// The entries of the directory `dir_rel` beneath `root_fd` (not "." and ".."), sorted by
// name, each with its stat. The directory is opened as layers::open_in_root_clamped opens
// it, never through a symlink as its last component. Errors name `dir_rel` ("." for the
// root) or the entry that could not be read.
layers::Result<std::vector<DirEntry>> list_dir_entries(int root_fd, const std::string& dir_rel);

// list_dir_entries of the directories a walk will enter, done ahead on one thread.
// The walk calls ahead() with the subdirectories of the directory it is in, in the order
// it will enter them, and take() when it enters one. Not thread-safe itself: one walk
// (one thread) uses it. Memory: the listings done ahead and not taken yet hold at most
// about kMaxAheadEntries entries.
class ListingPrefetcher {
 public:
  // `root` stays open while the prefetcher lives (its worker may still be listing when a
  // failed walk drops the plan that opened it).
  explicit ListingPrefetcher(std::shared_ptr<layers::UniqueFd> root) : root_(std::move(root)) {}
  ~ListingPrefetcher();  // waits for the listing in progress, drops the rest
  ListingPrefetcher(const ListingPrefetcher&) = delete;
  ListingPrefetcher& operator=(const ListingPrefetcher&) = delete;

  // The walk will enter `dirs` (paths beneath the root) in this order, before any
  // directory named by an earlier call (a depth-first walk enters a directory's
  // subdirectories before its next sibling).
  void ahead(const std::vector<std::string>& dirs);
  // list_dir_entries(root, dir_rel), listed ahead or now: never staler than a listing
  // made when ahead() named it.
  layers::Result<std::vector<DirEntry>> take(const std::string& dir_rel);

  static constexpr size_t kMaxAheadEntries = 1 << 16;

 private:
  enum class State { Queued, Listing, Done };
  struct Task {
    State state = State::Queued;
    std::optional<layers::Result<std::vector<DirEntry>>> listing;
  };
  void work();
  // The first queued directory, claimed (Listing); nullopt when none. Under mutex_.
  std::optional<std::string> claim_next();
  // Lists the first queued directory (claimed, listed with `lock` of mutex_ dropped, kept
  // as Done) while fewer than kMaxAheadEntries are held ahead; else waits for a change.
  void list_next_or_wait(std::unique_lock<std::mutex>& lock);

  const std::shared_ptr<layers::UniqueFd> root_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<std::string, Task> tasks_;
  std::deque<std::string> queue_;  // front first; may hold names no longer Queued
  size_t ahead_entries_ = 0;       // in Done listings not taken yet
  bool is_stopping_ = false;
  std::thread worker_;  // started by the first ahead() with something to do
};

}  // namespace builder
