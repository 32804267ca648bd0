#pragma once
// What a Dockerfile is after parsing: its parser directives and its instructions, split the
// way Docker's own parser (moby/buildkit frontend/dockerfile/parser) splits them. Nothing
// here is expanded: `$VAR`s, quotes in ENV values and stage names in FROM stay as written;
// the builder expands them with parser/expand.h where Docker does.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parser {

// A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`).
struct Heredoc {
  std::string name;     // the delimiter word with quotes removed: EOF
  std::string content;  // every line up to the delimiter, each with its newline, as written
  bool chomp = false;   // `<<-`: the builder strips leading tabs from each line
  bool expand = true;   // false when any part of the delimiter was quoted
};

struct Instruction {
  std::string cmd;                 // lower-case: "from", "run", "copy", ...
  std::vector<std::string> flags;  // leading `--name=value` words, quotes/escapes removed
  // The arguments after Docker's parser-level split:
  //   JSON form (json == true): the array's strings.
  //   RUN, CMD, ENTRYPOINT, SHELL in shell form: one string, the command as written.
  //   ENV, LABEL: key, value, key, value... (values keep their quotes and escapes).
  //   ARG: the `name[=value]` words, split quote-aware, quotes kept.
  //   HEALTHCHECK: the type ("CMD", "NONE"), then the command as for CMD.
  //   ONBUILD: one string, the nested instruction's text (see parse_onbuild_trigger).
  //   WORKDIR, USER, STOPSIGNAL, MAINTAINER: one string, the rest of the line (Docker
  //     does not split these: `WORKDIR /a b` is the directory "/a b").
  //   Everything else (FROM, EXPOSE, COPY, ADD, VOLUME): the whitespace-split words.
  std::vector<std::string> args;
  bool json = false;  // written in JSON (exec) form
  int line = 0;       // 1-based first line of the instruction
  int end_line = 0;   // last line, continuation lines and heredoc bodies included
  int column = 0;     // 1-based column of the instruction word on `line` (for carets)
  std::vector<Heredoc> heredocs;
  // The instruction as Docker joins it: leading whitespace dropped, continuation lines
  // concatenated without the escape character, comment lines inside the continuation
  // dropped, heredoc bodies not included. Docker shows this text in messages and history.
  std::string original;
};

struct Dockerfile {
  char escape = '\\';                             // from `# escape=`; '\\' or '`'
  std::map<std::string, std::string> directives;  // lower-case name -> value, as written
  std::vector<Instruction> instructions;
};

// The value of flag `name` (written without dashes: "from") in `instruction`: the text
// after `--name=`, "" for a bare `--name`, nullopt when absent. The last occurrence wins,
// as in Docker; use flag_values for flags that may repeat (`--mount`, `--exclude`).
std::optional<std::string> flag_value(const Instruction& instruction, std::string_view name);
std::vector<std::string> flag_values(const Instruction& instruction, std::string_view name);

// The name of a flag word: "--from=build" -> "from", "--link" -> "link".
std::string_view flag_name(std::string_view flag);

}  // namespace parser
