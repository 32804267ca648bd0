// runtime/rootless.h on text: which /etc/subuid lines belong to a user, and the maps
// newuidmap is given. (tests/builder/rootless_test.cpp runs rootless hoist for real.)

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/rootless.h"

using runtime::IdRange;

namespace {

std::vector<std::pair<uint32_t, uint32_t>> pairs(const std::vector<IdRange>& ranges) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (const auto& r : ranges) out.emplace_back(r.start, r.count);
  return out;
}

}  // namespace

TEST_CASE("rootless: a user's subordinate ranges, by name or uid, in file order", "[rootless]") {
  const std::string text =
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "# a comment\n"
      "1001:300000:1000\n"
      "alice:400000:0\n"           // no ids: skipped
      "alice:not-a-number:10\n"    // malformed: skipped
      "alice:500000\n"             // too few fields
      "alice:600000:10";           // no final newline
  CHECK(pairs(runtime::subordinate_ranges(text, "alice", 1001)) ==
        std::vector<std::pair<uint32_t, uint32_t>>{{100000, 65536}, {300000, 1000}, {600000, 10}});
  CHECK(pairs(runtime::subordinate_ranges(text, "bob", 1002)) ==
        std::vector<std::pair<uint32_t, uint32_t>>{{165536, 65536}});
  CHECK(runtime::subordinate_ranges(text, "carol", 1003).empty());
  CHECK(runtime::subordinate_ranges("", "alice", 1001).empty());
}

TEST_CASE("rootless: 0 is the user, the ranges follow from 1", "[rootless]") {
  CHECK(runtime::id_map_arguments(1001, {{100000, 65536}, {300000, 1000}}) ==
        std::vector<std::string>{"0", "1001", "1", "1", "100000", "65536", "65537", "300000", "1000"});
  CHECK(runtime::id_map_arguments(1001, {}) == std::vector<std::string>{"0", "1001", "1"});
}
