#include "parser/dockerfile.h"

#include <set>
#include <string>

#include "parser/ascii.h"
#include "parser/heredoc.h"
#include "parser/instructions.h"
#include "parser/split.h"
#include "parser/suggest.h"

namespace parser {

namespace {

// Physical lines, each with its line end, so heredoc bodies keep their bytes as written.
std::vector<std::string_view> physical_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_comment(std::string_view raw) {
  std::string_view s = trim_left(trim_newline(raw));
  return !s.empty() && s.front() == '#';
}

// Go's regexp \s: the spaces a directive line may have around its name, '=' and value.
bool is_re_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Matches ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$, Docker's directive pattern.
bool match_directive(std::string_view line, std::string* name, std::string* value) {
  if (line.empty() || line[0] != '#') return false;
  size_t i = 1;
  while (i < line.size() && is_re_space(line[i])) ++i;
  if (i == line.size() || !is_alpha(line[i])) return false;
  size_t name_start = i;
  while (i < line.size() && (is_alpha(line[i]) || is_digit(line[i]))) ++i;
  *name = ascii_lower(line.substr(name_start, i - name_start));
  while (i < line.size() && is_re_space(line[i])) ++i;
  if (i == line.size() || line[i] != '=') return false;
  ++i;
  while (i < line.size() && is_re_space(line[i])) ++i;
  size_t end = line.size();
  while (end > i && is_re_space(line[end - 1])) --end;
  if (end == i) return false;
  *value = std::string(line.substr(i, end - i));
  return true;
}

constexpr size_t kMaxLineBytes = 64 * 1024;  // a line with its line end

struct Diag {
  int column = 0, length = 0;
  std::string message, hint;
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view name) : name_(name) {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3), bom_ = true;
    lines_ = physical_lines(text);
  }

  ParseResult run();

  // Builds an instruction from its joined text. On a syntax error returns false with *diag
  // set; the column is found by searching `first_line` for the offending word.
  static bool make_instruction(std::string_view text, char escape, Instruction* out,
                               Diag* diag, std::string_view first_line);

 private:
  // Docker's processLine: line end dropped, leading space dropped for a first line, the
  // directive checked, and a comment line made empty.
  bool process_line(size_t index, bool strip_left, std::string_view* out);
  bool check_directive(std::string_view line, size_t index);
  bool trim_continuation(std::string_view line, std::string* joined) const;
  void error(int line, int column, int length, std::string message, std::string hint = {});

  std::string name_;
  bool bom_ = false;
  std::vector<std::string_view> lines_;
  ParseResult result_;
  bool directives_done_ = false;
};

void Parser::error(int line, int column, int length, std::string message, std::string hint) {
  result_.diagnostics.push_back({Severity::Error, name_, line, column, length, std::move(message),
                                 std::move(hint)});
}

bool Parser::check_directive(std::string_view line, size_t index) {
  if (directives_done_) return true;
  std::string name, value;
  if (!match_directive(line, &name, &value) ||
      (name != "syntax" && name != "escape" && name != "check")) {
    directives_done_ = true;  // unknown directives are comments, and end the directives
    return true;
  }
  int line_no = static_cast<int>(index) + 1;
  int column = bom_ && index == 0 ? 4 : 1;
  if (result_.file.directives.count(name)) {
    error(line_no, column, 0, "only one " + name + " parser directive can be used");
    return false;
  }
  if (name == "escape") {
    if (value != "\\" && value != "`") {
      error(line_no, column, 0, "invalid escape token '" + value + "' does not match ` or \\");
      return false;
    }
    result_.file.escape = value[0];
  }
  result_.file.directives[name] = value;
  return true;
}

bool Parser::process_line(size_t index, bool strip_left, std::string_view* out) {
  std::string_view token = trim_newline(lines_[index]);
  if (strip_left) token = trim_left(token);
  if (!check_directive(token, index)) return false;
  *out = is_comment(token) ? std::string_view() : token;
  return true;
}

// Docker's continuation rule: a line ending in the escape character, optionally followed by
// spaces or tabs, continues on the next line; the escape and those blanks are dropped. An
// escaped escape at the end (`echo \\`) is no continuation, but an escape alone is.
bool Parser::trim_continuation(std::string_view line, std::string* joined) const {
  const char escape = result_.file.escape;
  std::string_view t = line;
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  if (!t.empty() && t.back() == escape && (t.size() == 1 || t[t.size() - 2] != escape)) {
    t.remove_suffix(1);
    *joined += t;
    return true;
  }
  *joined += line;
  return false;
}

int column_of(std::string_view first_line, std::string_view word) {
  if (word.empty()) return 0;
  size_t at = first_line.find(word);
  return at == std::string_view::npos ? 0 : static_cast<int>(at) + 1;
}

bool Parser::make_instruction(std::string_view text, char escape, Instruction* out, Diag* diag,
                              std::string_view first_line) {
  CommandSplit split = split_command(text);
  std::string_view rest;
  if (!split.rest.empty()) out->flags = extract_flags(split.rest, &rest);
  out->cmd = ascii_lower(split.command);
  out->original = std::string(text);
  int column = column_of(first_line, split.command);
  int length = static_cast<int>(split.command.size());
  out->column = column;
  if (!is_instruction(split.command)) {
    std::string hint = nearest(split.command, instruction_names());
    *diag = {column, length, "unknown instruction \"" + std::string(split.command) + "\"",
             hint.empty() ? std::string() : "did you mean \"" + hint + "\"?"};
    return false;
  }
  SplitArgs args = split_arguments(out->cmd, rest, escape);
  if (!args.error.empty()) {
    *diag = {column, length, args.error, {}};
    return false;
  }
  out->args = std::move(args.args);
  out->json = args.json;
  if (out->cmd == "onbuild" && !out->args.empty()) {
    Instruction nested;
    if (!make_instruction(out->args[0], escape, &nested, diag, first_line)) return false;
    if (nested.cmd == "onbuild" || nested.cmd == "from" || nested.cmd == "maintainer") {
      std::string_view word = split_command(out->args[0]).command;
      *diag = {column_of(first_line, word), static_cast<int>(word.size()), {}, {}};
      diag->message = nested.cmd == "onbuild"
                          ? "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
                          : ascii_upper(word) + " isn't allowed as an ONBUILD trigger";
      return false;
    }
  }
  return true;
}

ParseResult Parser::run() {
  Dockerfile& file = result_.file;
  // Docker reads lines with a bufio.Scanner, which refuses a line longer than 64 KiB.
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].size() > kMaxLineBytes) {
      error(static_cast<int>(i) + 1, 0, 0,
            "dockerfile line greater than max allowed size of " + std::to_string(kMaxLineBytes - 1));
      return std::move(result_);
    }
  }
  for (size_t i = 0; i < lines_.size(); ++i) {
    std::string_view processed;
    if (!process_line(i, true, &processed)) return std::move(result_);
    size_t start = i;
    std::string line;
    bool continues = trim_continuation(processed, &line);
    if (!continues && line.empty()) continue;

    bool has_empty_continuation_line = false;
    while (continues && i + 1 < lines_.size()) {
      ++i;
      if (!process_line(i, false, &processed)) return std::move(result_);
      if (is_comment(lines_[i])) continue;
      if (trim_left(processed).empty()) {
        has_empty_continuation_line = true;
        continue;
      }
      continues = trim_continuation(processed, &line);
    }
    int start_line = static_cast<int>(start) + 1;
    std::string_view first_line = trim_newline(lines_[start]);

    Instruction instruction;
    Diag diag;
    if (!make_instruction(line, file.escape, &instruction, &diag, first_line)) {
      error(start_line, diag.column, diag.length, std::move(diag.message), std::move(diag.hint));
      return std::move(result_);
    }
    if (has_empty_continuation_line) {
      result_.diagnostics.push_back({Severity::Warning, name_, static_cast<int>(i) + 1, 0, 0,
                                     "empty continuation line found in: " + line,
                                     "empty continuation lines will become errors"});
    }

    // An ONBUILD's heredocs belong to its trigger, so look at the nested instruction.
    std::string heredoc_cmd = instruction.cmd;
    bool json = instruction.json;
    if (instruction.cmd == "onbuild" && !instruction.args.empty()) {
      Instruction nested;
      Diag ignored;
      if (make_instruction(instruction.args[0], file.escape, &nested, &ignored, first_line))
        heredoc_cmd = nested.cmd, json = nested.json;
    }
    if (can_have_heredocs(heredoc_cmd) && !json && line.find("<<") != std::string::npos) {
      std::string message;
      if (!heredocs_from_line(line, &instruction.heredocs, &message)) {
        error(start_line, 0, 0, message);
        return std::move(result_);
      }
      for (Heredoc& doc : instruction.heredocs) {
        bool terminated = false;
        while (i + 1 < lines_.size()) {
          std::string_view raw = lines_[++i];
          std::string_view candidate = trim_newline(raw);
          if (doc.chomp)
            while (!candidate.empty() && candidate.front() == '\t') candidate.remove_prefix(1);
          if (candidate == doc.name) {
            terminated = true;
            break;
          }
          doc.content += raw;
        }
        if (!terminated) {
          int column = column_of(first_line, "<<");
          error(start_line, column, column > 0 ? 2 : 0,
                "unterminated heredoc \"" + doc.name + "\"");
          return std::move(result_);
        }
      }
    }
    instruction.line = start_line;
    instruction.end_line = static_cast<int>(i) + 1;
    file.instructions.push_back(std::move(instruction));
  }
  if (file.instructions.empty()) error(0, 0, 0, "file with no instructions");
  return std::move(result_);
}

}  // namespace

ParseResult parse_dockerfile(std::string_view text, std::string_view display_name) {
  return Parser(text, display_name).run();
}

ParseResult parse_onbuild_trigger(const Instruction& onbuild, char escape,
                                  std::string_view display_name) {
  ParseResult result;
  result.file.escape = escape;
  auto fail = [&](std::string message, int column = 0, int length = 0, std::string hint = {}) {
    result.diagnostics.push_back({Severity::Error, std::string(display_name), onbuild.line,
                                  column, length, std::move(message), std::move(hint)});
    return std::move(result);
  };
  if (onbuild.cmd != "onbuild") return fail("not an ONBUILD instruction");
  if (onbuild.args.empty()) return fail("ONBUILD requires at least one argument");
  Instruction nested;
  Diag diag;
  if (!Parser::make_instruction(onbuild.args[0], escape, &nested, &diag, {}))
    return fail(diag.message, 0, 0, diag.hint);
  nested.line = onbuild.line;
  nested.end_line = onbuild.end_line;
  nested.heredocs = onbuild.heredocs;
  result.file.instructions.push_back(std::move(nested));
  return result;
}

}  // namespace parser
