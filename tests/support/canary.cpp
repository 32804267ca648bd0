#include "tests/support/canary.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace hoist_test {

namespace {

void must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("planting the canary: " + what);
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  must(fd >= 0, "creating " + path);
  must(::write(fd, content.data(), content.size()) == ssize_t(content.size()), "writing " + path);
  ::close(fd);
  must(::chmod(path.c_str(), mode) == 0, "chmod " + path);
}

std::string xattrs_of(const std::string& path) {
  std::string names(4096, '\0');
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return "xattrs unreadable";
  names.resize(size_t(n));
  std::vector<std::string> list;
  for (size_t start = 0; start < names.size();) {
    std::string name = names.c_str() + start;
    start += name.size() + 1;
    std::string value(4096, '\0');
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    value.resize(v < 0 ? 0 : size_t(v));
    list.push_back(name + "=" + value);
  }
  std::sort(list.begin(), list.end());
  std::string out;
  for (const auto& x : list) out += " " + x;
  return out;
}

std::string describe(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "missing";
  std::string d = "mode " + std::to_string(st.st_mode) + " owner " + std::to_string(st.st_uid) + ":" +
                  std::to_string(st.st_gid) + " mtime " + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec) + " ctime " + std::to_string(st.st_ctim.tv_sec) +
                  "." + std::to_string(st.st_ctim.tv_nsec) + " size " + std::to_string(st.st_size);
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    target.resize(n < 0 ? 0 : size_t(n));
    d += " -> " + target;
  } else if (S_ISREG(st.st_mode)) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    std::string content;
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0) content.append(buf, size_t(n));
    if (fd >= 0) ::close(fd);
    d += " content " + content;
  }
  return d + xattrs_of(path);
}

void walk(const std::string& dir, const std::string& rel, std::map<std::string, std::string>& out) {
  out[rel.empty() ? "." : rel] = describe(dir + (rel.empty() ? "" : "/" + rel));
  std::string path = rel.empty() ? dir : dir + "/" + rel;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  DIR* d = ::opendir(path.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : names) walk(dir, rel.empty() ? name : rel + "/" + name, out);
}

}  // namespace

std::map<std::string, std::string> Canary::snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  walk(dir, "", out);
  return out;
}

Canary Canary::plant(const std::string& dir) {
  must(::mkdir(dir.c_str(), 0750) == 0, "mkdir " + dir);
  write_file(dir + "/file1", "canary one\n", 0640);
  write_file(dir + "/file2", "canary two\n", 0600);
  must(::mkdir((dir + "/sub").c_str(), 0700) == 0, "mkdir sub");
  write_file(dir + "/sub/x", "canary x\n", 0644);
  write_file(dir + "/sub/y", "canary y\n", 0644);
  must(::mkdir((dir + "/b").c_str(), 0755) == 0, "mkdir b");
  write_file(dir + "/b/x", "canary b/x\n", 0644);
  must(::symlink("file1", (dir + "/link").c_str()) == 0, "symlink");
  must(::setxattr((dir + "/file1").c_str(), "user.canary", "one", 3, 0) == 0, "user xattr");
  must(::setxattr(dir.c_str(), "user.canary", "dir", 3, 0) == 0, "user xattr on the dir");
  // Best effort: trusted.* needs CAP_SYS_ADMIN.
  ::setxattr((dir + "/sub").c_str(), "trusted.canary", "sub", 3, 0);
  Canary c(dir);
  c.planted_ = snapshot(dir);
  return c;
}

std::vector<std::string> Canary::changes() const {
  auto now = snapshot(dir_);
  std::vector<std::string> out;
  for (const auto& [rel, was] : planted_) {
    auto it = now.find(rel);
    if (it == now.end()) out.push_back("removed " + rel);
    else if (it->second != was) out.push_back("changed " + rel + ": " + was + " => " + it->second);
  }
  for (const auto& [rel, is] : now)
    if (!planted_.count(rel)) out.push_back("added " + rel + ": " + is);
  return out;
}

}  // namespace hoist_test
