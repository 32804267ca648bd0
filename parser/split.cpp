#include "parser/split.h"

namespace parser {

// Decodes one UTF-8 character; returns -1 (width 1) for a byte that does not start a
// valid sequence, as Go's utf8.DecodeRuneInString returns RuneError.
static long decode_utf8(std::string_view s, size_t pos, size_t* width) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(pos);
  *width = 1;
  if (b0 < 0x80) return b0;
  size_t n = b0 >= 0xF0 && b0 < 0xF5 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 && b0 < 0xE0 ? 2 : 0;
  if (n == 0 || b0 >= 0xF5 || pos + n > s.size()) return -1;
  long cp = b0 & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  *width = n;
  return cp;
}

bool is_space_at(std::string_view text, size_t pos, size_t* width) {
  long c = decode_utf8(text, pos, width);
  switch (c) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string_view trim_left(std::string_view text) {
  size_t pos = 0, width = 1;
  while (pos < text.size() && is_space_at(text, pos, &width)) pos += width;
  return text.substr(pos);
}

std::string_view trim_right(std::string_view text) {
  // Walk forward so multi-byte spaces are recognised; remember where the last non-space ends.
  size_t pos = 0, end = 0, width = 1;
  while (pos < text.size()) {
    bool space = is_space_at(text, pos, &width);
    pos += width;
    if (!space) end = pos;
  }
  return text.substr(0, end);
}

std::string_view trim(std::string_view text) { return trim_right(trim_left(text)); }

static bool is_split_space(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

std::vector<std::string> split_whitespace(std::string_view text) {
  std::vector<std::string> words;
  if (text.empty()) return words;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || is_split_space(text[i])) {
      words.emplace_back(text.substr(start, i - start));
      while (i < text.size() && is_split_space(text[i])) ++i;
      start = i;
    }
  }
  return words;
}

CommandSplit split_command(std::string_view line) {
  line = trim(line);
  size_t i = 0;
  while (i < line.size() && !is_split_space(line[i])) ++i;
  CommandSplit out{line.substr(0, i), {}};
  while (i < line.size() && is_split_space(line[i])) ++i;
  out.rest = line.substr(i);
  return out;
}

// Docker's flag scanner tests single bytes with unicode.IsSpace, so it sees the bytes 0x85
// and 0xA0 as spaces and multi-byte spaces as not.
bool is_space_byte(char c) {
  auto b = static_cast<unsigned char>(c);
  return b == ' ' || (b >= '\t' && b <= '\r') || b == 0x85 || b == 0xA0;
}

std::vector<std::string> extract_flags(std::string_view rest, std::string_view* remaining) {
  std::vector<std::string> flags;
  size_t pos = 0;
  *remaining = {};
  while (true) {
    while (pos < rest.size() && is_space_byte(rest[pos])) ++pos;
    if (pos >= rest.size()) return flags;
    if (rest.substr(pos, 2) != "--") {
      *remaining = trim(rest.substr(pos));
      return flags;
    }
    std::string word;
    bool quoted_empty_ok = false;  // `--x=""` keeps its (empty) word
    char quote = 0;
    for (; pos < rest.size(); ++pos) {
      char c = rest[pos];
      if (!quote && is_space_byte(c)) break;
      if (!quote && (c == '\'' || c == '"')) {
        quote = c, quoted_empty_ok = true;
        continue;
      }
      if (quote && c == quote) {
        quote = 0;
        continue;
      }
      if (c == '\\') {
        if (pos + 1 == rest.size()) continue;  // a backslash at the very end is dropped
        c = rest[++pos];
      }
      word += c;
    }
    if (word == "--") {
      *remaining = trim(rest.substr(pos));
      return flags;
    }
    if (quoted_empty_ok || !word.empty()) flags.push_back(std::move(word));
  }
}

std::vector<std::string> split_words(std::string_view text, char escape) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, blank_ok = false;
  char quote = 0;
  size_t pos = 0, width = 1;
  auto finish = [&] {
    if (blank_ok || !word.empty()) words.push_back(word);
    word.clear();
    blank_ok = false;
    in_word = false;
  };
  while (pos < text.size()) {
    bool space = is_space_at(text, pos, &width);
    char c = text[pos];
    if (!in_word) {
      if (space) {
        pos += width;
        continue;
      }
      in_word = true;
    }
    if (!quote) {
      if (space) {
        finish();
        pos += width;
        continue;
      }
      if (c == '\'' || c == '"') quote = c, blank_ok = true;
      if (c == escape) {
        if (pos + 1 == text.size()) break;  // an escape at the very end is dropped
        word += c;
        pos += 1;
        is_space_at(text, pos, &width);
      }
      word.append(text.substr(pos, width));
      pos += width;
      continue;
    }
    // Inside quotes. The escape character escapes anything but within '...'.
    if (c == quote) {
      quote = 0;
    } else if (c == escape && quote != '\'') {
      if (pos + 1 == text.size()) {
        pos += 1;
        continue;
      }
      word += c;
      pos += 1;
      is_space_at(text, pos, &width);
    }
    word.append(text.substr(pos, width));
    pos += width;
  }
  if (in_word) finish();
  return words;
}

}  // namespace parser
