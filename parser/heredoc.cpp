#include "parser/heredoc.h"

namespace parser {

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Shell words of `line` with quotes and escapes kept as written; only the word boundaries
// are decided here. An unquoted `<<` keeps the blanks after it in its word (BuildKit's
// lexer, processPossibleHeredoc). An unterminated quote anywhere gives no words at all:
// BuildKit's lexer fails on it, and its heredoc scan takes the (empty) result.
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
        if (j >= line.size()) return {};
        i = j + 1;
      } else if (c == '<' && i + 1 < line.size() && line[i + 1] == '<') {
        i += 2;
        while (i < line.size() && is_blank(line[i])) ++i;
      } else {
        ++i;
      }
    }
    words.push_back(line.substr(start, std::min(i, line.size()) - start));
  }
  return words;
}

// Removes the quoting from a delimiter word. Returns false for an unterminated quote;
// `*quoted` tells whether any quote characters did quoting, `*several` whether unquoted
// blanks split it into more than one word (trailing blanks do not).
static bool unquote(std::string_view word, std::string* out, bool* quoted, bool* several) {
  out->clear();
  *quoted = false;
  *several = false;
  bool in_word = false, after_blank = false;
  for (size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (is_blank(c)) {
      after_blank = in_word;
      continue;
    }
    if (after_blank) *several = true;
    in_word = true;
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

// The `^(\d*)<<(-?)\s*([^<]*)$` match of BuildKit's reHeredoc: the rest after the blanks,
// or nullopt. Sets *chomp.
static std::optional<std::string_view> heredoc_rest(std::string_view word, bool* chomp) {
  size_t i = 0;
  while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
  if (word.substr(i, 2) != "<<") return std::nullopt;
  i += 2;
  *chomp = i < word.size() && word[i] == '-';
  if (*chomp) ++i;
  while (i < word.size() && is_blank(word[i])) ++i;
  std::string_view rest = word.substr(i);
  if (rest.empty() || rest.find('<') != std::string_view::npos) return std::nullopt;
  return rest;
}

std::optional<Heredoc> heredoc_of_word(std::string_view word) {
  bool chomp = false;
  auto rest = heredoc_rest(word, &chomp);
  if (!rest) return std::nullopt;
  Heredoc doc;
  bool quoted = false, several = false;
  if (!unquote(*rest, &doc.name, &quoted, &several) || several || doc.name.empty())
    return std::nullopt;
  doc.chomp = chomp;
  doc.expand = !quoted;
  return doc;
}

bool heredocs_from_line(std::string_view line, std::vector<Heredoc>* out, std::string* error) {
  for (std::string_view word : raw_words(line)) {
    bool chomp = false;
    auto rest = heredoc_rest(word, &chomp);
    if (!rest) continue;
    std::string name;
    bool quoted = false, several = false;
    if (!unquote(*rest, &name, &quoted, &several)) {
      *error = "unterminated quote in heredoc delimiter " + std::string(*rest);
      return false;
    }
    if (auto doc = heredoc_of_word(word)) out->push_back(std::move(*doc));
  }
  return true;
}

std::string chomp_heredoc(std::string_view body) {
  std::string out;
  bool at_line_start = true;
  for (char c : body) {
    if (at_line_start && c == '\t') continue;
    at_line_start = c == '\n';
    out += c;
  }
  return out;
}

bool run_command_with_heredocs(std::string_view command, const std::vector<Heredoc>& heredocs,
                               std::string* out, std::string* error) {
  size_t first = 0;
  while (first < command.size() && is_blank(command[first])) ++first;
  if (!heredocs.empty() && heredoc_of_word(command.substr(first))) {
    const Heredoc& doc = heredocs[0];
    if (doc.content.starts_with("#!")) {
      *error = "RUN <<" + doc.name +
               " starts with #!: running a here-document through its own interpreter is not "
               "supported yet (write the interpreter after the heredoc: RUN <<" +
               doc.name + " python3)";
      return false;
    }
    *out = doc.chomp ? chomp_heredoc(doc.content) : doc.content;
    return true;
  }
  std::string full(command);
  for (const Heredoc& doc : heredocs) full += "\n" + doc.content + doc.name;
  *out = std::move(full);
  return true;
}

}  // namespace parser
