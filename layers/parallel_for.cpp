#include "layers/parallel_for.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace layers {

Result<void> for_each_index(size_t count, int threads, const std::function<Result<void>(size_t)>& work) {
  std::mutex mu;
  size_t next = 0;
  std::map<size_t, Error> failed;  // by item
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard lock(mu);
        if (!failed.empty() || next >= count) return;
        i = next++;
      }
      auto r = work(i);
      if (!r) {
        std::lock_guard lock(mu);
        failed.emplace(i, std::move(r).error());
      }
    }
  };
  const size_t n = std::clamp<size_t>(size_t(std::max(threads, 1)), 1, std::max<size_t>(count, 1));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < n; ++t) {
    try {
      helpers.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // fewer threads; the caller's own still does every item
    }
  }
  worker();
  for (auto& t : helpers) t.join();
  if (!failed.empty()) return std::move(failed.begin()->second);
  return {};
}

}  // namespace layers
