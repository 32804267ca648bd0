#include "parser/heredoc.h"

namespace parser {

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Shell words of `line` with quotes and escapes kept as written; only the word boundaries
// are decided here. A word with an unterminated quote ends the scan, as Docker's lexer
// stops with an error that its heredoc scan ignores.
static std::vector<std::string_view> raw_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) break;
    size_t start = i;
    while (i < line.size() && !is_blank(line[i])) {
      char c = line[i];
      if (c == '\\') {
        i += 2;
      } else if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (j < line.size() && line[j] != c) j += (c == '"' && line[j] == '\\') ? 2 : 1;
        if (j >= line.size()) return words;
        i = j + 1;
      } else {
        ++i;
      }
    }
    words.push_back(line.substr(start, std::min(i, line.size()) - start));
  }
  return words;
}

// Removes the quoting from a delimiter word. Returns false for an unterminated quote;
// `*quoted` tells whether any quote characters did quoting.
static bool unquote(std::string_view word, std::string* out, bool* quoted, bool* several) {
  out->clear();
  *quoted = false;
  *several = false;
  for (size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (is_blank(c)) {
      *several = true;
      continue;
    }
    if (c == '\\') {
      if (i + 1 < word.size()) *out += word[++i];
      continue;
    }
    if (c == '\'' || c == '"') {
      *quoted = true;
      size_t j = i + 1;
      for (; j < word.size() && word[j] != c; ++j) {
        if (c == '"' && word[j] == '\\' && j + 1 < word.size()) {
          char next = word[j + 1];
          if (next == '"' || next == '\\' || next == '$') {
            *out += next;
            ++j;
            continue;
          }
        }
        *out += word[j];
      }
      if (j >= word.size()) return false;
      i = j;
      continue;
    }
    *out += c;
  }
  return true;
}

bool heredocs_from_line(std::string_view line, std::vector<Heredoc>* out, std::string* error) {
  for (std::string_view word : raw_words(line)) {
    size_t i = 0;
    while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
    if (word.substr(i, 2) != "<<") continue;
    i += 2;
    bool chomp = i < word.size() && word[i] == '-';
    if (chomp) ++i;
    std::string_view rest = word.substr(i);
    if (rest.empty() || rest.find('<') != std::string_view::npos) continue;
    Heredoc doc;
    bool quoted = false, several = false;
    if (!unquote(rest, &doc.name, &quoted, &several)) {
      *error = "unterminated quote in heredoc delimiter " + std::string(rest);
      return false;
    }
    if (several || doc.name.empty()) continue;
    doc.chomp = chomp;
    doc.expand = !quoted;
    out->push_back(std::move(doc));
  }
  return true;
}

}  // namespace parser
