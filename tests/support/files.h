#pragma once
// The tests' one way to read and write a whole file (every test executable links it), and
// to hand bytes to code that reads a file descriptor.
//
//   hoist_test::write_file(dir / "Dockerfile", "FROM scratch\n");
//   CHECK(hoist_test::read_file(dir / "out.txt") == "hello\n");
//
// Binary-safe. read_file gives "" for a file that cannot be opened; write_file makes missing
// parent directories, truncates, and gives no error (tests check what they read back).

#include <string>

#include "layers/unique_fd.h"

namespace hoist_test {

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// `bytes` in an anonymous file (memfd), rewound: a layer or tar to hand to a reader.
layers::UniqueFd memfd_of(const std::string& bytes);

}  // namespace hoist_test
