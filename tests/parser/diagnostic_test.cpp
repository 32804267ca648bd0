#include <catch2/catch.hpp>

#include "parser/diagnostic.h"

TEST_CASE("diagnostic: headline names file, line and hint", "[parser][diagnostic]") {
  parser::Diagnostic d{parser::Severity::Error, "Dockerfile", 7, 1, 4,
                       "unknown instruction \"RUNN\"", "did you mean \"RUN\"?"};
  CHECK(parser::format_headline(d) ==
        "Dockerfile:7: unknown instruction \"RUNN\" (did you mean \"RUN\"?)");
  CHECK(parser::format_with_source(d, "FROM x\n\n\n\n\n\nRUNN make -C /src\n") ==
        "Dockerfile:7: unknown instruction \"RUNN\" (did you mean \"RUN\"?)\n"
        "    7 | RUNN make -C /src\n"
        "      | ^~~~");
}
