#pragma once
// Splitting instruction text into words, exactly as Docker's parser does. Docker has
// three different splitters, and which one an instruction uses decides what its
// arguments are; each is documented below with what it keeps and drops.

#include <string>
#include <string_view>
#include <vector>

namespace parser {

// Go's unicode.IsSpace on the UTF-8 character starting at text[pos]; `width` receives its
// byte length (1 for a byte that does not start valid UTF-8, which is not a space).
bool is_space_at(std::string_view text, size_t pos, size_t* width);

// unicode.IsSpace on a single byte taken as a character, as Docker's flag and HEALTHCHECK
// scanners test: ASCII whitespace and the bytes 0x85 and 0xA0.
bool is_space_byte(char c);

// Trims Go unicode spaces on the left, on the right, or both.
std::string_view trim_left(std::string_view text);
std::string_view trim_right(std::string_view text);
std::string_view trim(std::string_view text);

// Splits on runs of [ \t\v\f\r] (Docker's reWhitespace). `text` should be trimmed; an empty
// text gives no words. Used by FROM, EXPOSE, and the shell form of COPY, ADD, VOLUME.
std::vector<std::string> split_whitespace(std::string_view text);

// The rest of a line split into the command word and what follows: "RUN  a b" -> {"RUN",
// "a b"}. Leading/trailing whitespace is dropped from both.
struct CommandSplit {
  std::string_view command;
  std::string_view rest;
};
CommandSplit split_command(std::string_view line);

// Takes the leading `--flag` words off `rest`. In a flag word, quotes group and are
// removed, and a backslash (always backslash, whatever the escape directive) escapes the
// next character. A bare `--` ends the flags and is dropped. `remaining` receives the text
// after the flags, trimmed.
std::vector<std::string> extract_flags(std::string_view rest, std::string_view* remaining);

// Docker's quote-aware word splitter for ENV, LABEL and ARG: splits on whitespace outside
// quotes; quotes and escape characters stay in the words (`a="b c"` is one word, as
// written); an escape character at the very end is dropped.
std::vector<std::string> split_words(std::string_view text, char escape);

}  // namespace parser
