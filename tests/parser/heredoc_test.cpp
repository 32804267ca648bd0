// parser/heredoc.h: which word opens a heredoc (BuildKit's ParseHeredoc), and the command
// RUN runs for a line with heredocs (BuildKit's dispatchRun).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parser/dockerfile.h"
#include "parser/heredoc.h"

namespace {

// name|chomp|expand, or "" for no heredoc.
std::string describe(const std::optional<parser::Heredoc>& doc) {
  if (!doc) return "";
  return doc->name + "|" + (doc->chomp ? "1" : "0") + "|" + (doc->expand ? "1" : "0");
}

}  // namespace

TEST_CASE("heredoc: the words that open one", "[parser][heredoc]") {
  auto [word, expected] = GENERATE(table<std::string, std::string>({
      {"<<EOF", "EOF|0|1"},
      {"<<'EOF'", "EOF|0|0"},
      {"<<\"EOF\"", "EOF|0|0"},
      {"<<-EOF", "EOF|1|1"},
      {"<<-'EOF'", "EOF|1|0"},
      {"<<EO\"F\"", "EOF|0|0"},
      {"<< EOF", "EOF|0|1"},
      {"<<\t EOF  ", "EOF|0|1"},
      {"<<- EOF", "EOF|1|1"},  // as a word; the lexer never makes one (see parser tests)
      {"3<<EOF", "EOF|0|1"},
      {"<<'one two'", "one two|0|0"},
      {"<<eo\\'f", "eo'f|0|1"},
      {"", ""},
      {"EOF", ""},
      {"<<", ""},
      {"<<-", ""},
      {"<<  ", ""},
      {"<EOF", ""},
      {"<<<EOF", ""},
      {"<<EOF<", ""},
      {"<<EOF sh", ""},
      {"<<one two", ""},
      {"<<'EOF", ""},
      {"a<<EOF", ""},
  }));
  CAPTURE(word);
  CHECK(describe(parser::heredoc_of_word(word)) == expected);
}

TEST_CASE("heredoc: what RUN runs, as BuildKit builds it", "[parser][heredoc]") {
  // The Dockerfile's RUN line and body; the shell command that results.
  auto [dockerfile, expected] = GENERATE(table<std::string, std::string>({
      // The command is one heredoc word: its body is the script.
      {"RUN <<EOF\necho hi\nEOF\n", "echo hi\n"},
      {"RUN <<  EOF\necho hi\nEOF\n", "echo hi\n"},
      {"RUN <<EOF  \necho hi\nEOF\n", "echo hi\n"},
      {"RUN 3<<EOF\necho hi\nEOF\n", "echo hi\n"},
      {"RUN <<-EOF\n\techo hi\n\tEOF\n", "echo hi\n"},
      {"RUN <<'EOF'\necho $HOME\nEOF\n", "echo $HOME\n"},
      // Anything else: the line and the bodies, for the shell's own here-documents.
      {"RUN cat <<EOF > /f\nhello\nEOF\n", "cat <<EOF > /f\nhello\nEOF"},
      {"RUN <<EOF sh -x\necho hi\nEOF\n", "<<EOF sh -x\necho hi\nEOF"},
      {"RUN <<  EOF  > /f\nx\nEOF\n", "<<  EOF  > /f\nx\nEOF"},
      {"RUN <<-EOF cat\n\tx\n\tEOF\n", "<<-EOF cat\n\tx\nEOF"},
      {"RUN <<A cat - && <<B cat\na\nA\nb\nB\n", "<<A cat - && <<B cat\na\nA\nb\nB"},
  }));
  CAPTURE(dockerfile);
  parser::ParseResult parsed = parser::parse_dockerfile(dockerfile, "Dockerfile");
  REQUIRE(parsed.file.instructions.size() == 1);
  const parser::Instruction& run = parsed.file.instructions[0];
  REQUIRE(!run.heredocs.empty());
  std::string command, error;
  REQUIRE(parser::run_command_with_heredocs(run.args.at(0), run.heredocs, &command, &error));
  CHECK(command == expected);
}

TEST_CASE("heredoc: a #! script heredoc is refused, not run by the shell", "[parser][heredoc]") {
  parser::ParseResult parsed =
      parser::parse_dockerfile("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n", "Dockerfile");
  REQUIRE(parsed.file.instructions.size() == 1);
  const parser::Instruction& run = parsed.file.instructions[0];
  std::string command, error;
  CHECK_FALSE(parser::run_command_with_heredocs(run.args.at(0), run.heredocs, &command, &error));
  CHECK_THAT(error, Catch::Contains("#!") && Catch::Contains("not supported yet"));
  // Not the single-heredoc form: the shell reads the body, #! line and all.
  parsed = parser::parse_dockerfile("RUN <<EOF python3\n#!/x\nprint(1)\nEOF\n", "Dockerfile");
  const parser::Instruction& python = parsed.file.instructions.at(0);
  CHECK(parser::run_command_with_heredocs(python.args.at(0), python.heredocs, &command, &error));
  CHECK(command == "<<EOF python3\n#!/x\nprint(1)\nEOF");
}
