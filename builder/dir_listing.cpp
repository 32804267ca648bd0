#include "builder/dir_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <system_error>

#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::Result;

Result<std::vector<std::string>> list_dir_names(int dir_fd, const std::string& what) {
  layers::UniqueFd dup(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup) return Error::from_errno("listing " + layers::quoted(what));
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(dup.get()), ::closedir);
  if (!d) return Error::from_errno("listing " + layers::quoted(what));
  dup.release();  // d's now
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0) return Error::from_errno("listing " + layers::quoted(what));
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<DirEntry>> list_dir_entries(int root_fd, const std::string& dir_rel) {
  const std::string shown = dir_rel.empty() ? "." : dir_rel;
  layers::UniqueFd dir(layers::open_in_root_clamped(root_fd, dir_rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!dir) return Error::from_errno("listing " + layers::quoted(shown));
  auto names = list_dir_names(dir.get(), shown);
  if (!names) return std::move(names).error();
  // Sorted as names, not as entries: a struct stat is 144 bytes to move at every swap.
  std::vector<DirEntry> entries(names->size());
  for (size_t i = 0; i < names->size(); ++i) {
    DirEntry& entry = entries[i];
    entry.name = std::move((*names)[i]);
    if (::fstatat(dir.get(), entry.name.c_str(), &entry.st, AT_SYMLINK_NOFOLLOW) != 0)
      return Error::from_errno("reading " + layers::quoted(dir_rel.empty() ? entry.name : dir_rel + "/" + entry.name));
  }
  return entries;
}

ListingPrefetcher::~ListingPrefetcher() {
  {
    std::lock_guard lock(mutex_);
    is_stopping_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ListingPrefetcher::ahead(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
      if (tasks_.try_emplace(*it).second) queue_.push_front(*it);
  }
  changed_.notify_all();
  if (!worker_.joinable()) {
    try {
      worker_ = std::thread(&ListingPrefetcher::work, this);
    } catch (const std::system_error&) {
      // No thread to be had (a limit on tasks): take() lists every directory itself.
    }
  }
}

std::optional<std::string> ListingPrefetcher::claim_next() {
  while (!queue_.empty()) {
    std::string dir = std::move(queue_.front());
    queue_.pop_front();
    auto it = tasks_.find(dir);
    if (it != tasks_.end() && it->second.state == State::Queued) {
      it->second.state = State::Listing;
      return dir;
    }
  }
  return std::nullopt;
}

void ListingPrefetcher::list_next_or_wait(std::unique_lock<std::mutex>& lock) {
  std::optional<std::string> dir;
  if (ahead_entries_ < kMaxAheadEntries) dir = claim_next();
  if (!dir) {
    changed_.wait(lock);
    return;
  }
  lock.unlock();
  auto listing = list_dir_entries(root_->get(), *dir);
  lock.lock();
  Task& task = tasks_.at(*dir);
  if (listing) ahead_entries_ += listing->size();
  task.listing = std::move(listing);
  task.state = State::Done;
}

void ListingPrefetcher::work() {
  std::unique_lock lock(mutex_);
  while (!is_stopping_) {
    list_next_or_wait(lock);
    changed_.notify_all();
  }
}

Result<std::vector<DirEntry>> ListingPrefetcher::take(const std::string& dir_rel) {
  std::unique_lock lock(mutex_);
  // Only ahead() (this thread) adds tasks, so `it` stays valid while the lock is dropped.
  auto it = tasks_.find(dir_rel);
  if (it == tasks_.end()) {
    lock.unlock();
    return list_dir_entries(root_->get(), dir_rel);
  }
  while (true) {
    Task& task = it->second;
    if (task.state == State::Done) {
      Result<std::vector<DirEntry>> listing = std::move(*task.listing);
      if (listing) ahead_entries_ -= listing->size();
      tasks_.erase(it);
      changed_.notify_all();  // room for the worker to list further ahead
      return listing;
    }
    if (task.state == State::Queued) {
      task.state = State::Listing;
      lock.unlock();
      auto listing = list_dir_entries(root_->get(), dir_rel);
      lock.lock();
      tasks_.erase(it);
      return listing;
    }
    // The worker is listing it: list the next directory meanwhile rather than wait.
    list_next_or_wait(lock);
  }
}

}  // namespace builder
