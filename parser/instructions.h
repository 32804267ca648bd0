#pragma once
// The instructions Docker knows, and how each one's arguments are split (see Instruction::args).

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parser {

// Every instruction name, upper-case, in the order of the Dockerfile reference.
std::span<const std::string_view> instruction_names();

// True for a known instruction; `cmd` is compared case-insensitively.
bool is_instruction(std::string_view cmd);

// True for RUN, COPY and ADD, the instructions whose shell form may open heredocs.
bool can_have_heredocs(std::string_view lower_cmd);

struct SplitArgs {
  std::vector<std::string> args;
  bool json = false;
  std::string error;  // empty on success, else Docker's message for the syntax error
};

// Splits `rest` (the text after the flags, trimmed) into the arguments of the known
// instruction `lower_cmd` the way Docker's parser does. ONBUILD gets its nested text as one
// argument; checking the nested instruction is the caller's job.
SplitArgs split_arguments(std::string_view lower_cmd, std::string_view rest, char escape);

}  // namespace parser
