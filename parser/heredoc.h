#pragma once
// Here-documents (`<<EOF`) on RUN, COPY and ADD lines, found the way BuildKit's Dockerfile
// frontend (1.16 and later) finds them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/ast.h"

namespace parser {

// The heredoc a single word opens, as BuildKit's ParseHeredoc reads it: `[n]<<[-]` and,
// after optional blanks, one shell word (`<<EOF`, `<< EOF`, `3<<-'EOF'`, `<<'one two'`;
// trailing blanks are allowed, a `<` anywhere after the `<<` is not). The word loses its
// quotes to become the name; any quoting turns expansion of the body off (`<<'EOF'`,
// `<<"EOF"`, `<<E"O"F`); `<<-` sets `chomp`. nullopt for anything else: `<<`, `<<EOF sh`,
// `"<<EOF"`, or a delimiter with an unterminated quote.
std::optional<Heredoc> heredoc_of_word(std::string_view word);

// The heredocs an instruction line opens, in order, with empty content (the parser reads
// the bodies from the lines that follow). The line is split into shell words (quotes and
// backslashes kept, so `"<<EOF"` is no heredoc), and an unquoted `<<` takes the blanks
// after it into its word, as BuildKit's lexer does: `RUN <<  EOF` opens EOF, while
// `<<- EOF` stays two words and opens nothing. Each word is read by heredoc_of_word.
// Returns false (and sets *error) for a heredoc word whose delimiter has an unterminated
// quote.
bool heredocs_from_line(std::string_view line, std::vector<Heredoc>* out, std::string* error);

// Strips the leading tabs of every line, for `<<-`.
std::string chomp_heredoc(std::string_view body);

// The shell command RUN runs for the shell-form `command` and the heredocs its line
// opened (at least one), as BuildKit's dispatchRun builds it:
//   - `command` is one heredoc word (`<<EOF`, `<< EOF`, `<<-EOF`): the body is the script
//     (tabs chomped for `<<-`);
//   - anything else (`cat <<EOF > /f`, `<<EOF python3`, two heredocs): the command line,
//     then each body followed by its delimiter on a line of its own, for the shell to read.
// A single heredoc whose body starts with `#!` is run by BuildKit as a file through its
// interpreter; that is not done here, and the call fails with a message saying so.
bool run_command_with_heredocs(std::string_view command, const std::vector<Heredoc>& heredocs,
                               std::string* out, std::string* error);

}  // namespace parser
