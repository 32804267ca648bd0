#include "builder/cli/store_access.h"

#include <cmath>
#include <cstdio>
#include <ctime>


namespace builder::cli {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<layers::Store> open_store(const GlobalOptions& global) {
  std::string root = global.root.empty() ? layers::Store::default_root() : global.root;
  return layers::Store::open(root);
}

Result<std::string> normalized_name(std::string_view text, bool allow_digest) {
  auto ref = registry::Reference::parse(text);
  if (!ref) return std::move(ref).error();
  if (ref->digest() && !allow_digest)
    return Error(ErrorKind::InvalidInput,
                 "invalid name " + layers::quoted(text) + ": a tag cannot name a digest");
  return ref->str();
}

Result<layers::Descriptor> resolve_image(const layers::Store& store, std::string_view text) {
  if (auto ref = registry::Reference::parse(text)) {
    auto by_name = store.find_tag(ref->str());
    if (by_name) return by_name;
    if (by_name.error().kind() != ErrorKind::NotFound) return by_name;
    // "name@sha256:..." also finds the image by its manifest digest when only the tag
    // (or nothing) was stored under that name.
    if (ref->digest()) {
      auto index = store.read_index();
      if (!index) return std::move(index).error();
      for (const auto& d : index->manifests)
        if (d.digest == *ref->digest()) return d;
    }
  }
  auto by_id = store.find_id(text);
  if (!by_id && by_id.error().kind() == ErrorKind::NotFound)
    return Error(ErrorKind::NotFound, "no such image: " + std::string(text));
  return by_id;
}

std::string familiar_name(std::string_view full) {
  auto ref = registry::Reference::parse(full);
  return ref ? ref->familiar() : std::string(full);
}

std::pair<std::string, std::string> repository_and_tag(std::string_view full) {
  auto ref = registry::Reference::parse(full);
  if (!ref) return {std::string(full), "<none>"};
  return {ref->familiar_repository(), ref->tag().empty() ? "<none>" : ref->tag()};
}

int64_t parse_rfc3339(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = static_cast<int64_t>(::timegm(&tm));
  std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
  if (rest.starts_with('.')) {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  if (rest == "Z" || rest == "z") return t;
  int hh = 0, mm = 0;
  char sign = rest.empty() ? '\0' : rest.front();
  if ((sign == '+' || sign == '-') &&
      std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &hh, &mm) == 2) {
    int64_t offset = hh * 3600 + mm * 60;
    return sign == '+' ? t - offset : t + offset;
  }
  return -1;
}

std::string human_age(std::string_view rfc3339, int64_t now_unix) {
  int64_t then = parse_rfc3339(rfc3339);
  if (then < 0) return "N/A";
  double seconds = static_cast<double>(now_unix - then);
  if (seconds < 0) seconds = 0;
  auto plural = [](long n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  // The steps of docker's units.HumanDuration.
  long secs = static_cast<long>(seconds);
  long minutes = std::lround(seconds / 60);
  long hours = std::lround(seconds / 3600);
  if (secs < 1) return "Less than a second ago";
  if (secs < 60) return plural(secs, "second");
  if (minutes == 1) return "About a minute ago";
  if (minutes < 60) return plural(minutes, "minute");
  if (hours == 1) return "About an hour ago";
  if (hours < 48) return plural(hours, "hour");
  if (hours < 24 * 7 * 2) return plural(hours / 24, "day");
  if (hours < 24 * 30 * 2) return plural(hours / 24 / 7, "week");
  if (hours < 24 * 365 * 2) return plural(hours / 24 / 30, "month");
  return plural(hours / 24 / 365, "year");
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    std::puts(line.c_str());
  }
}

}  // namespace builder::cli
