#pragma once
// "Did you mean" hints: the candidate closest to a mistyped word.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace parser {

// Levenshtein distance between `a` and `b`, compared case-insensitively (ASCII).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word`, or "" when none is close enough to be a plausible typo:
// the distance must be at most 1 for words of up to 2 characters, 2 up to 5, else 3, and
// smaller than word.size().
// Ties go to the earlier candidate. Case-insensitive; returns the candidate as given.
std::string nearest(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace parser
