#include "parser/dockerignore.h"

#include <algorithm>
#include <optional>

namespace parser {
namespace {

using Token = IgnorePattern::Token;

// One UTF-8 code point at `s[i]`: its value and byte length. A byte that starts no
// valid sequence is U+FFFD of length 1, as Go decodes it.
std::pair<char32_t, size_t> decode(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return {c, 1};
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return {0xFFFD, 1};
  char32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return {0xFFFD, 1};
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  // Overlong forms and surrogates are invalid too.
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return {0xFFFD, 1};
  return {cp, len};
}

bool is_valid_at(std::string_view s, size_t i) {
  auto [cp, len] = decode(s, i);
  return !(cp == 0xFFFD && len == 1 && static_cast<unsigned char>(s[i]) >= 0x80);
}

// Checks a pattern the way Go's filepath.Match does; returns the problem, or nothing.
std::optional<std::string> syntax_error(std::string_view p) {
  size_t i = 0;
  // One character of a class, possibly escaped (Go's getEsc).
  auto class_char = [&]() -> std::optional<std::string> {
    if (i >= p.size() || p[i] == '-' || p[i] == ']')
      return std::string(i >= p.size() ? "unterminated character class"
                                       : "misplaced '" + std::string(1, p[i]) + "' in character class");
    if (p[i] == '\\') {
      ++i;
      if (i >= p.size()) return std::string("unterminated character class");
    }
    if (!is_valid_at(p, i)) return std::string("invalid UTF-8 in character class");
    i += decode(p, i).second;
    if (i >= p.size()) return std::string("unterminated character class");
    return std::nullopt;
  };
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return std::string("trailing '\\'");
      i += 1 + decode(p, i + 1).second;
    } else if (c == '[') {
      ++i;
      if (i < p.size() && p[i] == '^') ++i;
      int ranges = 0;
      for (;;) {
        if (i < p.size() && p[i] == ']' && ranges > 0) {
          ++i;
          break;
        }
        if (auto e = class_char()) return e;
        if (p[i] == '-') {
          ++i;
          if (auto e = class_char()) return e;
        }
        ++ranges;
      }
    } else {
      i += decode(p, i).second;
    }
  }
  return std::nullopt;
}

// Reads a class starting after `[`; `i` ends after `]`. The syntax was checked.
Token parse_class(std::string_view p, size_t& i) {
  Token t{Token::Class, {}, false, {}};
  if (p[i] == '^') {
    t.negated = true;
    ++i;
  }
  auto one = [&]() {
    if (p[i] == '\\') ++i;
    auto [cp, len] = decode(p, i);
    i += len;
    return cp;
  };
  while (!(p[i] == ']' && !t.ranges.empty())) {
    char32_t lo = one();
    char32_t hi = lo;
    if (p[i] == '-') {
      ++i;
      hi = one();
    }
    t.ranges.emplace_back(lo, hi);
  }
  ++i;
  return t;
}

// Compiles like patternmatcher: a literal pattern is compared as a string, `x/**` is a
// prefix test and `**/x` a suffix test (exactly as Docker, `**x` also matches "ax");
// anything else becomes tokens. Wildcards inside `[...]` are plain characters here.
void compile(IgnorePattern& pat) {
  using Mode = IgnorePattern::Mode;
  const std::string_view p = pat.text;
  Mode mode = Mode::Exact;
  std::vector<Token> tokens;
  size_t i = 0;
  for (int n = 0; i < p.size(); ++n) {
    char c = p[i];
    if (c == '*') {
      ++i;
      if (i < p.size() && p[i] == '*') {
        ++i;
        if (i < p.size() && p[i] == '/') ++i;
        if (i >= p.size()) {
          if (mode == Mode::Exact) {
            mode = Mode::Prefix;
          } else {
            tokens.push_back({Token::Rest, {}, false, {}});
            mode = Mode::Tokens;
          }
        } else {
          tokens.push_back({Token::DirStar, {}, false, {}});
          mode = Mode::Tokens;
        }
        if (n == 0) mode = Mode::Suffix;
      } else {
        tokens.push_back({Token::Star, {}, false, {}});
        mode = Mode::Tokens;
      }
    } else if (c == '?') {
      ++i;
      tokens.push_back({Token::One, {}, false, {}});
      mode = Mode::Tokens;
    } else if (c == '\\') {
      ++i;
      size_t len = decode(p, i).second;
      tokens.push_back({Token::Literal, std::string(p.substr(i, len)), false, {}});
      i += len;
      mode = Mode::Tokens;
    } else if (c == '[') {
      ++i;
      tokens.push_back(parse_class(p, i));
      mode = Mode::Tokens;
    } else {
      size_t len = decode(p, i).second;
      tokens.push_back({Token::Literal, std::string(p.substr(i, len)), false, {}});
      i += len;
      if (c == ']') mode = Mode::Tokens;
    }
  }
  pat.mode = mode;
  pat.tokens = std::move(tokens);
}

bool class_matches(const Token& t, char32_t cp) {
  bool in = false;
  for (auto [lo, hi] : t.ranges) in = in || (lo <= cp && cp <= hi);
  return in != t.negated;
}

// Whole-string match of tokens, as the anchored regular expression Docker builds:
// `*` and `?` stop at `/`; `**` parts stop at a newline (Go's `.`).
bool match_tokens(const std::vector<Token>& tokens, std::string_view s) {
  std::vector<size_t> starts;  // byte offset of each code point, then s.size()
  for (size_t i = 0; i < s.size(); i += decode(s, i).second) starts.push_back(i);
  const size_t n = starts.size();
  starts.push_back(s.size());
  auto cp_text = [&](size_t k) { return s.substr(starts[k], starts[k + 1] - starts[k]); };

  std::vector<char> reach(n + 1, 0), next(n + 1, 0);
  reach[0] = 1;
  for (const Token& t : tokens) {
    std::fill(next.begin(), next.end(), 0);
    bool active = false;
    for (size_t q = 0; q <= n; ++q) {
      switch (t.kind) {
        case Token::Literal:
          if (q < n && reach[q] && cp_text(q) == t.literal) next[q + 1] = 1;
          break;
        case Token::One:
          if (q < n && reach[q] && cp_text(q) != "/") next[q + 1] = 1;
          break;
        case Token::Class:
          if (q < n && reach[q] && class_matches(t, decode(s, starts[q]).first)) next[q + 1] = 1;
          break;
        case Token::Star:
        case Token::Rest:
          active = active || reach[q];
          if (active) next[q] = 1;
          if (q < n && cp_text(q) == (t.kind == Token::Star ? "/" : "\n")) active = false;
          break;
        case Token::DirStar:
          // Empty, or any run without a newline that ends in `/`.
          if (q > 0 && active && cp_text(q - 1) == "/") next[q] = 1;
          if (reach[q]) {
            next[q] = 1;
            active = true;
          }
          if (q < n && cp_text(q) == "\n") active = false;
          break;
      }
    }
    reach.swap(next);
  }
  return reach[n] != 0;
}

bool pattern_matches(const IgnorePattern& p, std::string_view path) {
  using Mode = IgnorePattern::Mode;
  switch (p.mode) {
    case Mode::Exact:
      return path == p.text;
    case Mode::Prefix:
      return path.substr(0, p.text.size() - 2) == std::string_view(p.text).substr(0, p.text.size() - 2);
    case Mode::Suffix: {
      std::string_view suffix = std::string_view(p.text).substr(2);
      if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix)
        return true;
      return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    case Mode::Tokens:
      return match_tokens(p.tokens, path);
  }
  return false;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? s.npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Can the pattern segments `segs` match a path that starts with the directories `dirs`?
// Once the directory is used up, the rest of the pattern can match something below it;
// a pattern that ends on an ancestor re-includes everything below that ancestor.
// below(i, j) (can segs[i..] match a path starting with dirs[j..]) is filled in from
// the ends, one row of j per i, so a pattern of 10,000 `**/` needs no deep recursion
// and O(segments x dirs) time.
bool segments_may_lead_below(const std::vector<std::string_view>& segs,
                             const std::vector<std::string_view>& dirs) {
  const size_t d = dirs.size();
  std::vector<char> next(d + 1, 1), row(d + 1, 1);  // row i + 1, row i
  for (size_t i = segs.size(); i-- > 0;) {
    enum { Globstar, Unknown, Segment } kind;
    IgnorePattern one;
    if (segs[i] == "**") {
      kind = Globstar;
    } else if (segs[i].find("**") != std::string_view::npos || syntax_error(segs[i])) {
      // `**` inside a name, or a `/` that was escaped or bracketed: assume it can.
      kind = Unknown;
    } else {
      kind = Segment;
      one.text = std::string(segs[i]);
      compile(one);
    }
    row[d] = 1;
    for (size_t j = d; j-- > 0;) {
      if (kind == Globstar) row[j] = next[j] || row[j + 1];
      else if (kind == Unknown) row[j] = 1;
      else row[j] = next[j + 1] && pattern_matches(one, dirs[j]);
    }
    next.swap(row);
  }
  return next[0] != 0;
}

}  // namespace

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  std::vector<std::string_view> parts;
  size_t leading_dotdots = 0;
  for (std::string_view part : split(path)) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.size() > leading_dotdots) {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);
        ++leading_dotdots;
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out = rooted ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

IgnoreRules IgnoreRules::from_text(std::string_view text, std::string_view file) {
  IgnoreRules rules;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line[0] == '#') continue;
    std::string_view raw = trim(line);
    if (raw.empty()) continue;

    IgnorePattern pat;
    pat.line = line_no;
    pat.is_exception = raw[0] == '!';
    if (pat.is_exception) raw = trim(raw.substr(1));
    auto report = [&](std::string message) {
      Diagnostic d;
      d.file = std::string(file);
      d.line = line_no;
      d.column = static_cast<int>(line.find_first_not_of(" \t")) + 1;
      d.length = static_cast<int>(trim(line).size());
      d.message = std::move(message);
      rules.diagnostics_.push_back(std::move(d));
    };
    if (raw.empty()) {
      report("illegal exclusion pattern: \"!\"");
      continue;
    }
    std::string cleaned = clean_path(raw);
    if (cleaned.size() > 1 && cleaned[0] == '/') cleaned.erase(0, 1);
    if (auto problem = syntax_error(cleaned)) {
      report("bad pattern \"" + std::string(raw) + "\": " + *problem);
      continue;
    }
    pat.text = std::move(cleaned);
    compile(pat);
    rules.has_exceptions_ = rules.has_exceptions_ || pat.is_exception;
    rules.patterns_.push_back(std::move(pat));
  }
  return rules;
}

bool IgnoreRules::excludes(std::string_view path_in) const {
  if (patterns_.empty()) return false;  // most builds: no .dockerignore, no --exclude
  std::string path = clean_path(path_in);
  if (path.size() > 1 && path[0] == '/') path.erase(0, 1);
  if (path == "." || path == "/") return false;

  // The parent directories of `path`, shortest first: "a", "a/b" for "a/b/c".
  std::vector<std::string_view> parents;
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
    parents.push_back(std::string_view(path).substr(0, slash));

  bool excluded = false;
  for (const IgnorePattern& p : patterns_) {
    // Only a pattern that could change the answer is tried, as Docker does.
    if (p.is_exception != excluded) continue;
    bool match = pattern_matches(p, path);
    for (size_t i = 0; !match && i < parents.size(); ++i) match = pattern_matches(p, parents[i]);
    if (match) excluded = !p.is_exception;
  }
  return excluded;
}

bool IgnoreRules::may_include_below(std::string_view dir_in) const {
  if (!has_exceptions_) return false;
  std::string dir = clean_path(dir_in);
  if (dir.size() > 1 && dir[0] == '/') dir.erase(0, 1);
  if (dir == "." || dir == "/") return true;
  const std::vector<std::string_view> dirs = split(dir);

  for (const IgnorePattern& p : patterns_) {
    if (!p.is_exception) continue;
    // Docker's `**x` and `x**` forms cross `/` freely: assume they can match below.
    if (p.text.find("**") != std::string::npos &&
        (p.mode == IgnorePattern::Mode::Prefix || p.mode == IgnorePattern::Mode::Suffix))
      return true;
    // A class may match `/` (Docker hands it to a regexp), so it can span segments.
    if (std::any_of(p.tokens.begin(), p.tokens.end(),
                    [](const Token& t) { return t.kind == Token::Class; }))
      return true;
    const std::vector<std::string_view> segs = split(p.text);
    if (segments_may_lead_below(segs, dirs)) return true;
  }
  return false;
}

std::vector<std::string> ignore_file_candidates(std::string_view context_dir,
                                                std::string_view dockerfile_path) {
  std::vector<std::string> out;
  if (!dockerfile_path.empty() && dockerfile_path != "-" && dockerfile_path.back() != '/')
    out.push_back(std::string(dockerfile_path) + ".dockerignore");
  std::string root(context_dir.empty() ? "." : context_dir);
  if (root.back() != '/') root += '/';
  out.push_back(root + ".dockerignore");
  return out;
}

}  // namespace parser
