#pragma once
// Here-documents (`<<EOF`) on RUN, COPY and ADD lines, found the way Docker finds them.

#include <string>
#include <string_view>
#include <vector>

#include "parser/ast.h"

namespace parser {

// The heredocs an instruction line opens, in order, with empty content (the parser reads
// the bodies from the lines that follow). The line is split into shell words (quotes and
// backslashes kept, so `"<<EOF"` is no heredoc); each word of the form `[n]<<[-]WORD`
// opens one. WORD loses its quotes to become the name, and any quoting of WORD turns
// expansion of the body off (`<<'EOF'`, `<<"EOF"`, `<<E"O"F`). `<<-` sets `chomp`.
// Returns false (and sets *error) for a delimiter with an unterminated quote.
bool heredocs_from_line(std::string_view line, std::vector<Heredoc>* out, std::string* error);

}  // namespace parser
