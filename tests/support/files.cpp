#include "tests/support/files.h"

#include <sys/mman.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace hoist_test {

void write_file(const std::string& path, const std::string& content) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

layers::UniqueFd memfd_of(const std::string& bytes) {
  layers::UniqueFd fd(::memfd_create("bytes", MFD_CLOEXEC));
  REQUIRE(fd);
  REQUIRE(::write(fd.get(), bytes.data(), bytes.size()) == ssize_t(bytes.size()));
  REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
  return fd;
}

}  // namespace hoist_test
