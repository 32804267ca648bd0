#include "tests/layers/tree_compare.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "layers/digest.h"

namespace tests {
namespace fs = std::filesystem;

void put_file(const std::string& path, std::string_view content, mode_t mode, int64_t mtime,
              uid_t uid, gid_t gid) {
  std::ofstream(path, std::ios::binary) << content;
  REQUIRE(::lchown(path.c_str(), uid, gid) == 0);
  REQUIRE(::chmod(path.c_str(), mode) == 0);  // after chown, which clears set-uid
  set_mtime(path, mtime);
}

void set_mtime(const std::string& path, int64_t mtime) {
  timespec t[2] = {{mtime, 0}, {mtime, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW) == 0);
}

namespace {

char type_letter(mode_t mode) {
  if (S_ISREG(mode)) return 'f';
  if (S_ISDIR(mode)) return 'd';
  if (S_ISLNK(mode)) return 'l';
  if (S_ISCHR(mode)) return 'c';
  if (S_ISBLK(mode)) return 'b';
  if (S_ISFIFO(mode)) return 'p';
  return 's';
}

std::string file_digest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  layers::Sha256 h;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0)
    h.update(std::string_view(buf, size_t(f.gcount())));
  return h.finish().str();
}

std::string printable(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string xattrs_of(const std::string& path) {
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len <= 0) return "";
  std::string names(size_t(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  if (len <= 0) return "";
  names.resize(size_t(len));
  std::vector<std::string> shown;
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (!name.starts_with("user.") && name != "security.capability") continue;
    std::string value(4096, '\0');
    ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    value.resize(n > 0 ? size_t(n) : 0);
    shown.push_back(name + "=" + printable(value));
  }
  std::sort(shown.begin(), shown.end());
  std::string out;
  for (const auto& s : shown) out += " xattr " + s;
  return out;
}

std::map<std::string, std::string> describe_map(const std::string& root,
                                                const TreeOptions& options) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    paths.push_back(it->path().lexically_relative(root).generic_string());
  std::sort(paths.begin(), paths.end());

  std::map<std::string, std::string> out;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  for (const std::string& rel : paths) {
    std::string full = root + "/" + rel;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0) {
      out[rel] = "(vanished)";
      continue;
    }
    std::ostringstream line;
    char perm[8];
    std::snprintf(perm, sizeof perm, "%04o", unsigned(st.st_mode & 07777));
    line << type_letter(st.st_mode) << ' ' << perm;
    if (options.compare_owners) line << ' ' << st.st_uid << ':' << st.st_gid;
    if (options.compare_mtimes) line << " mtime=" << st.st_mtim.tv_sec;
    if (S_ISREG(st.st_mode)) {
      auto [it, is_first] = first_link.try_emplace({st.st_dev, st.st_ino}, rel);
      if (!is_first)
        line << " link=" << it->second;
      else
        line << " size=" << st.st_size << ' ' << file_digest(full);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(size_t(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      target.resize(n > 0 ? size_t(n) : 0);
      line << " -> " << printable(target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      line << " dev=" << major(st.st_rdev) << ',' << minor(st.st_rdev);
    }
    line << xattrs_of(full);
    out[rel] = line.str();
  }
  return out;
}

}  // namespace

std::vector<std::string> describe_tree(const std::string& root, const TreeOptions& options) {
  std::vector<std::string> lines;
  for (const auto& [path, what] : describe_map(root, options)) lines.push_back(path + " " + what);
  return lines;
}

std::vector<std::string> compare_trees(const std::string& expected, const std::string& actual,
                                       const TreeOptions& options) {
  auto want = describe_map(expected, options);
  auto got = describe_map(actual, options);
  std::vector<std::string> diffs;
  for (const auto& [path, what] : want) {
    auto it = got.find(path);
    if (it == got.end())
      diffs.push_back(path + ": missing (expected " + what + ")");
    else if (it->second != what)
      diffs.push_back(path + ": expected " + what + " | got " + it->second);
  }
  for (const auto& [path, what] : got)
    if (!want.count(path)) diffs.push_back(path + ": unexpected (" + what + ")");
  return diffs;
}

}  // namespace tests
