#pragma once
// The --debug lines a registry::Client writes (ClientOptions::debug_log, called from the
// transfer threads), kept for a test to count the ones that say something.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace registry_test {

class DebugLines {
 public:
  // The sink to put in ClientOptions::debug_log; this object outlives the client.
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mu_);
      lines_.push_back(line);
    };
  }
  // How many lines so far contain `text`.
  int count(std::string_view text) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& line : lines_) n += line.find(text) != std::string::npos;
    return n;
  }
  void clear() {
    std::lock_guard lock(mu_);
    lines_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace registry_test
