#pragma once
// The JSON form of a parsed Dockerfile, exactly what `hoist parse --json` prints and what
// other tools read:
//   {"escape": "\\", "directives": {"syntax": "..."},
//    "instructions": [{"cmd": "from", "flags": ["--platform=x"], "args": ["debian"],
//                      "json": false, "line": 1, "end_line": 1,
//                      "heredocs": [{"name": "EOF", "content": "...", "chomp": false,
//                                    "expand": true}]}]}
// Keys come in this order; the text is indented by 2 and ends with a newline. Bytes that
// are not valid UTF-8 are printed as U+FFFD.

#include <string>

#include "parser/ast.h"

namespace parser {

std::string to_json(const Dockerfile& file);

}  // namespace parser
