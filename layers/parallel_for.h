#pragma once
// Work on several items at once, with an error that does not depend on timing.

#include <cstddef>
#include <functional>

#include "layers/error.h"

namespace layers {

// Runs work(0), work(1), ... work(count - 1) on up to `threads` threads (the caller's
// among them; below 1 counts as 1). Items start in order; once one has failed no new item
// starts, the running ones finish, and the Error returned is that of the lowest-numbered
// item that failed. Every item below it started (items start in order) and so ran to its
// end, so for the same failing items the same Error comes back however the threads ran.
Result<void> for_each_index(size_t count, int threads, const std::function<Result<void>(size_t)>& work);

}  // namespace layers
