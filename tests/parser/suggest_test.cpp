#include <catch2/catch.hpp>

#include <array>

#include "parser/suggest.h"

TEST_CASE("suggest: edit distance", "[parser][suggest]") {
  auto [a, b, distance] = GENERATE(table<std::string, std::string, size_t>({
      {"", "", 0},
      {"RUN", "RUN", 0},
      {"RUNN", "RUN", 1},
      {"run", "RUN", 0},
      {"FORM", "FROM", 2},
      {"kitten", "sitting", 3},
      {"", "abc", 3},
  }));
  CAPTURE(a, b);
  CHECK(parser::edit_distance(a, b) == distance);
}

TEST_CASE("suggest: the nearest plausible candidate", "[parser][suggest]") {
  static constexpr std::array<std::string_view, 6> kCandidates = {
      "FROM", "RUN", "COPY", "ENTRYPOINT", "ENV", "EXPOSE"};
  auto [word, expected] = GENERATE(table<std::string, std::string>({
      {"RUNN", "RUN"},
      {"run", "RUN"},
      {"CPY", "COPY"},
      {"FORM", "FROM"},
      {"ENTRYPONT", "ENTRYPOINT"},
      {"EXPOS", "EXPOSE"},
      {"ENW", "ENV"},
      {"X", ""},
      {"FROBNICATE", ""},
      {"", ""},
  }));
  CAPTURE(word);
  CHECK(parser::nearest(word, kCandidates) == expected);
}
