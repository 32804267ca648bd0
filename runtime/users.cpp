#include "runtime/users.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>

#include "layers/blob_store.h"
#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;

namespace {

// The largest id Docker accepts; (uint32_t)-1 means "unchanged" to chown(2).
constexpr uint64_t kMaxId = 4294967294u;

std::optional<uint32_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > kMaxId)
    return std::nullopt;
  return uint32_t(value);
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// One line of /etc/passwd ("name:x:uid:gid:gecos:home:shell") or /etc/group
// ("name:x:gid:member,member"). Lines that do not parse are skipped, as libc does.
struct PasswdEntry {
  std::string_view name;
  uint32_t uid, gid;
  std::string_view home;
};
struct GroupEntry {
  std::string_view name;
  uint32_t gid;
  std::vector<std::string_view> members;
};

template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    fn(line);
  }
}

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 4 || f[0].empty()) return;
    auto uid = parse_id(f[2]), gid = parse_id(f[3]);
    if (!uid || !gid) return;
    out.push_back({f[0], *uid, *gid, f.size() > 5 ? f[5] : std::string_view()});
  });
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 3 || f[0].empty()) return;
    auto gid = parse_id(f[2]);
    if (!gid) return;
    GroupEntry entry{f[0], *gid, {}};
    if (f.size() > 3 && !f[3].empty()) {
      for (std::string_view m : split(f[3], ',')) {
        if (!m.empty()) entry.members.push_back(m);
      }
    }
    out.push_back(std::move(entry));
  });
  return out;
}

}  // namespace

Result<ResolvedUser> resolve_user_in(std::string_view spec, std::string_view passwd_text,
                                     std::string_view group_text, UserPurpose purpose) {
  auto parts = split(spec, ':');
  if (spec.empty() || parts.size() > 2 || parts[0].empty() ||
      (parts.size() == 2 && parts[1].empty())) {
    return Error(ErrorKind::InvalidInput,
                 "user " + quoted(spec) + " is not of the form user[:group]");
  }
  const std::string_view user_part = parts[0];
  const std::optional<std::string_view> group_part =
      parts.size() == 2 ? std::optional(parts[1]) : std::nullopt;

  const auto passwd = parse_passwd(passwd_text);
  ResolvedUser out;
  out.home = "/";
  std::string_view user_name;  // known only when passwd has the user

  if (all_digits(user_part)) {
    auto uid = parse_id(user_part);
    if (!uid) return Error(ErrorKind::InvalidInput, "user id " + quoted(user_part) + " is out of range");
    out.uid = *uid;
    out.gid = purpose == UserPurpose::Chown ? *uid : 0;
    for (const auto& p : passwd) {
      if (p.uid != *uid) continue;
      if (purpose == UserPurpose::Run) out.gid = p.gid;
      user_name = p.name;
      if (!p.home.empty()) out.home = std::string(p.home);
      break;
    }
  } else {
    auto it = std::find_if(passwd.begin(), passwd.end(),
                           [&](const PasswdEntry& p) { return p.name == user_part; });
    if (it == passwd.end()) {
      return Error(ErrorKind::NotFound,
                   "unable to find user " + quoted(user_part) + ": no matching entry in /etc/passwd");
    }
    out.uid = it->uid;
    out.gid = purpose == UserPurpose::Chown ? it->uid : it->gid;
    user_name = it->name;
    if (!it->home.empty()) out.home = std::string(it->home);
  }

  const auto groups = parse_group(group_text);
  if (group_part) {
    if (all_digits(*group_part)) {
      auto gid = parse_id(*group_part);
      if (!gid)
        return Error(ErrorKind::InvalidInput, "group id " + quoted(*group_part) + " is out of range");
      out.gid = *gid;
    } else {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const GroupEntry& g) { return g.name == *group_part; });
      if (it == groups.end()) {
        return Error(ErrorKind::NotFound, "unable to find group " + quoted(*group_part) +
                                              ": no matching entry in /etc/group");
      }
      out.gid = it->gid;
    }
  }

  if (purpose == UserPurpose::Run) {
    out.supplementary_gids.push_back(out.gid);
    if (!group_part && !user_name.empty()) {
      for (const auto& g : groups) {
        if (std::find(g.members.begin(), g.members.end(), user_name) != g.members.end())
          out.supplementary_gids.push_back(g.gid);
      }
    }
    std::sort(out.supplementary_gids.begin(), out.supplementary_gids.end());
    out.supplementary_gids.erase(
        std::unique(out.supplementary_gids.begin(), out.supplementary_gids.end()),
        out.supplementary_gids.end());
  }
  return out;
}

Result<std::string> read_file_in_root(int root_fd, const std::string& rel_path, size_t max_bytes) {
  layers::UniqueFd fd(layers::open_in_root_clamped(root_fd, rel_path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (!fd) return Error::from_errno("opening " + quoted(rel_path) + " inside the root");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno("fstat " + quoted(rel_path));
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::InvalidInput, quoted(rel_path) + " is not a regular file");
  if (size_t(st.st_size) > max_bytes) {
    return Error(ErrorKind::InvalidInput, quoted(rel_path) + " is larger than " +
                                              std::to_string(max_bytes) + " bytes");
  }
  return layers::read_fd(fd.get(), rel_path, max_bytes);  // a file that grew is refused too
}

Result<ResolvedUser> resolve_user(int root_fd, std::string_view spec, UserPurpose purpose) {
  std::string files[2];
  const char* paths[2] = {"etc/passwd", "etc/group"};
  for (int i = 0; i < 2; ++i) {
    auto text = read_file_in_root(root_fd, paths[i], kMaxAccountFileBytes);
    if (text) {
      files[i] = std::move(*text);
    } else if (text.error().kind() != ErrorKind::NotFound) {
      return std::move(text).error().context("resolving user " + quoted(spec));
    }
  }
  return resolve_user_in(spec, files[0], files[1], purpose);
}

Result<ResolvedUser> resolve_user(const std::string& root_dir, std::string_view spec,
                                  UserPurpose purpose) {
  layers::UniqueFd root(::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::from_errno("opening root " + quoted(root_dir));
  auto user = resolve_user(root.get(), spec, purpose);
  if (!user) return std::move(user).error().context("in " + quoted(root_dir));
  return user;
}

}  // namespace runtime
