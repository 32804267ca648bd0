// builder/dir_listing.h: the listings a COPY walk takes from ListingPrefetcher are the
// directories' own (sorted, with each entry's stat), whether listed ahead on its thread
// or by the walk, and a directory that went away fails naming it.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "builder/dir_listing.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

// `dirs` directories of `files` empty files each (names in reverse, so sorting shows).
void make_tree(const fs::path& root, int dirs, int files) {
  for (int d = 0; d < dirs; ++d)
    for (int f = files - 1; f >= 0; --f) {
      fs::create_directories(root / ("d" + std::to_string(d)) / "sub");
      std::FILE* out = std::fopen((root / ("d" + std::to_string(d)) / ("f" + std::to_string(f))).c_str(), "w");
      REQUIRE(out);
      std::fclose(out);
    }
}

std::vector<std::string> names_of(const std::vector<builder::DirEntry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  return names;
}

std::shared_ptr<layers::UniqueFd> open_root(const fs::path& root) {
  auto fd = std::make_shared<layers::UniqueFd>(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(*fd);
  return fd;
}

}  // namespace

TEST_CASE("dir listing: listings taken ahead are the directories' own, sorted, with stat",
          "[builder][dir_listing]") {
  hoist_test::TempDir tmp;
  const fs::path root = tmp.path();
  make_tree(root, 40, 30);
  auto root_fd = open_root(root);

  auto top = builder::list_dir_entries(root_fd->get(), "");
  REQUIRE(top);
  REQUIRE(top->size() == 40);
  CHECK(std::is_sorted(top->begin(), top->end(), [](auto& a, auto& b) { return a.name < b.name; }));

  builder::ListingPrefetcher listings(root_fd);
  std::vector<std::string> dirs;
  for (const auto& e : *top) dirs.push_back(e.name);
  listings.ahead(dirs);
  // Taken in the order named, then one named twice and one never named: each is what a
  // listing made now gives.
  for (const auto& dir : dirs) {
    auto taken = listings.take(dir);
    REQUIRE(taken);
    auto now = builder::list_dir_entries(root_fd->get(), dir);
    REQUIRE(now);
    CHECK(names_of(*taken) == names_of(*now));
    REQUIRE(taken->size() == 31);
    for (size_t i = 0; i < taken->size(); ++i) {
      CHECK((*taken)[i].st.st_ino == (*now)[i].st.st_ino);
      CHECK(S_ISDIR((*taken)[i].st.st_mode) == ((*taken)[i].name == "sub"));
    }
  }
  auto again = listings.take("d3");
  REQUIRE(again);
  CHECK(again->size() == 31);
  auto sub = listings.take("d7/sub");
  REQUIRE(sub);
  CHECK(sub->empty());
}

TEST_CASE("dir listing: a directory removed before it is taken fails naming it", "[builder][dir_listing]") {
  hoist_test::TempDir tmp;
  const fs::path root = tmp.path();
  make_tree(root, 3, 2);
  auto root_fd = open_root(root);
  builder::ListingPrefetcher listings(root_fd);
  fs::remove_all(root / "d2");
  listings.ahead({"d0", "d1", "d2"});
  CHECK(listings.take("d0"));
  auto gone = listings.take("d2");  // out of order: the walk may skip one
  REQUIRE_FALSE(gone);
  CHECK_THAT(gone.error().message(), Catch::Contains("listing \"d2\""));
  // One left untaken is dropped with the prefetcher.
}
