#include <catch2/catch.hpp>

#include "parser/dockerfile.h"
#include "parser/strict.h"

TEST_CASE("strict: what a build rejects after parsing", "[parser][strict]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      // Accepted.
      {"FROM --platform=$BUILDPLATFORM a", ""},
      {"RUN --network=host --security=sandbox x", ""},
      {"RUN --network=none x", ""},
      {"COPY --from=a --chown=1:1 --chmod=644 --exclude=a --exclude=b s d", ""},
      {"COPY --link=false --parents=false s d", ""},
      {"ADD --keep-git-dir=false --checksum=sha256:abc123 https://x/y /d", ""},
      // Refused: flags hoist does not implement (parser::flag_support_table).
      {"RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --mount=type=secret,id=s x", ""},
      {"RUN --mount=type=ssh,id=gh,required x", ""},
      {"COPY --link s d",
       "Dockerfile:1: COPY --link is not supported by hoist: layers independent of their base are not implemented yet"},
      {"RUN --mount=target=/c --mount=type=bind,from=a,source=/x,target=/y,rw x", ""},
      {"RUN --security=insecure x", ""},  // the entitlement is the build's business (--allow)
      {"COPY --link s d",
       "Dockerfile:1: COPY --link is not supported by hoist: layers independent of their base are not implemented yet"},
      {"COPY --parents s d", ""},
      {"ADD --keep-git-dir=true https://x/y.git /d",
       "Dockerfile:1: ADD --keep-git-dir is not supported by hoist: ADD of a git repository is not implemented"},
      {"ADD --unpack=false a.tar /d", "Dockerfile:1: ADD --unpack is not supported by hoist: not implemented yet"},
      {"COPY <<EOF /etc/x\nhi\nEOF", ""},
      {"HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0 --retries=3 CMD true", ""},
      {"HEALTHCHECK NONE", ""},
      {"HEALTHCHECK --interval=bogus --nonsense NONE", ""},  // Docker ignores NONE's flags
      {"HEALTHCHECK CMD [\"true\"]", ""},
      {"SHELL [\"/bin/sh\", \"-c\"]", ""},
      {"WORKDIR /a b", ""},
      {"CMD", ""},
      // Flags.
      {"COPY --form=a s d", R"(Dockerfile:1: unknown flag: --form (did you mean "--from"?))"},
      {"ADD --from=a s d", "Dockerfile:1: unknown flag: --from"},
      {"ADD --parents a/ /d", "Dockerfile:1: unknown flag: --parents"},
      {"RUN --network=none --netwrok=none x",
       R"(Dockerfile:1: unknown flag: --netwrok (did you mean "--network"?))"},
      {"WORKDIR --x=1 /a", "Dockerfile:1: unknown flag: --x"},
      {"COPY --from=a --from=b s d", "Dockerfile:1: duplicate flag specified: --from"},
      {"COPY --link=yes s d", "Dockerfile:1: expecting boolean value for flag link, not: yes"},
      {"COPY --from s d", "Dockerfile:1: missing a value on flag: --from"},
      {"RUN --network=bridge x",
       R"(Dockerfile:1: unsupported network mode "bridge" (use default, none or host))"},
      {"RUN --security=privileged x",
       R"(Dockerfile:1: unsupported security mode "privileged" (use sandbox or insecure))"},
      {"RUN --mount=type=volume,target=/x x",
       R"(Dockerfile:1: --mount=type=volume,target=/x: unsupported mount type "volume")"},
      {"RUN --mount=type=cahce,target=/x x",
       R"(Dockerfile:1: --mount=type=cahce,target=/x: unsupported mount type "cahce" (did you mean cache?))"},
      {"RUN --mount=type=cache,tagret=/x x",
       R"(Dockerfile:1: --mount=type=cache,tagret=/x: unexpected key 'tagret' in 'tagret=/x' (did you mean target?))"},
      {"RUN --mount=type=bind,target=/x,mode=0700 x",
       R"(Dockerfile:1: --mount=type=bind,target=/x,mode=0700: mode not allowed for "bind" type mounts)"},
      {"ADD --checksum=abc https://x/y /y",
       R"(Dockerfile:1: invalid checksum digest format "abc" (expected ALGORITHM:HEX, e.g. sha256:...))"},
      {"HEALTHCHECK --interval=5 CMD true", R"(Dockerfile:1: time: invalid duration "5")"},
      {"HEALTHCHECK --timeout=10us CMD true",
       R"(Dockerfile:1: Interval "timeout" cannot be less than 1ms)"},
      {"HEALTHCHECK --retries=-1 CMD true", "Dockerfile:1: --retries cannot be negative (-1)"},
      {"HEALTHCHECK --retries=x CMD true", R"(Dockerfile:1: invalid value for --retries: "x")"},
      // Arguments.
      {"HEALTHCHECK CMD", "Dockerfile:1: Missing command after HEALTHCHECK CMD"},
      {"HEALTHCHECK NONE x", "Dockerfile:1: HEALTHCHECK NONE takes no arguments"},
      {"HEALTHCHECK RUN x", R"(Dockerfile:1: Unknown type "RUN" in HEALTHCHECK (try CMD))"},
      {"HEALTHCHECK", "Dockerfile:1: HEALTHCHECK requires at least one argument"},
      {"COPY a", "Dockerfile:1: COPY requires at least two arguments, but only one was provided. "
                 "Destination could not be determined."},
      {"ADD [\"a\"]", "Dockerfile:1: ADD requires at least two arguments, but only one was "
                      "provided. Destination could not be determined."},
      {"COPY a <<EOF\nx\nEOF", "Dockerfile:1: COPY cannot accept a heredoc as a destination"},
      {"ENV", "Dockerfile:1: ENV requires at least one argument"},
      {"LABEL", "Dockerfile:1: LABEL requires at least one argument"},
      {"LABEL =x", "Dockerfile:1: LABEL names can not be blank"},
      {"ARG", "Dockerfile:1: ARG requires at least one argument"},
      {"EXPOSE", "Dockerfile:1: EXPOSE requires at least one argument"},
      {"ONBUILD", "Dockerfile:1: ONBUILD requires at least one argument"},
      {"WORKDIR", "Dockerfile:1: WORKDIR requires exactly one argument"},
      {"USER", "Dockerfile:1: USER requires exactly one argument"},
      {"STOPSIGNAL", "Dockerfile:1: STOPSIGNAL requires exactly one argument"},
      {"VOLUME", "Dockerfile:1: VOLUME requires at least one argument"},
      {"VOLUME [\"\"]", "Dockerfile:1: VOLUME specified can not be an empty string"},
      {"SHELL /bin/sh -c", "Dockerfile:1: SHELL requires the arguments to be in JSON form"},
      {"SHELL []", "Dockerfile:1: SHELL requires at least one argument"},
  }));
  CAPTURE(text);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE_FALSE(parser::has_errors(result.diagnostics));
  std::vector<parser::Diagnostic> problems = parser::check_strict(result.file, "Dockerfile");
  CHECK((problems.empty() ? "" : parser::format_headline(problems[0])) == expected);
}
