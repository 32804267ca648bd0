#pragma once
// The tests' one way to read and write a whole file (every test executable links it).
//
//   hoist_test::write_file(dir / "Dockerfile", "FROM scratch\n");
//   CHECK(hoist_test::read_file(dir / "out.txt") == "hello\n");
//
// Binary-safe. read_file gives "" for a file that cannot be opened; write_file makes missing
// parent directories, truncates, and gives no error (tests check what they read back).

#include <string>

namespace hoist_test {

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

}  // namespace hoist_test
