// The Dockerfile parser, one table per idea: how each instruction's arguments are split,
// line handling, directives, heredocs, and the syntax errors Docker reports.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parser/dockerfile.h"

namespace {

// One line per instruction: `cmd --flag... ["arg", ...]`, then ` json` for the exec form.
std::string summary(const parser::Dockerfile& file) {
  std::string out;
  for (const parser::Instruction& in : file.instructions) {
    if (!out.empty()) out += "\n";
    out += in.cmd;
    for (const std::string& flag : in.flags) out += " " + flag;
    out += " " + nlohmann::json(in.args).dump();
    if (in.json) out += " json";
  }
  return out;
}

std::string first_error(const parser::ParseResult& result) {
  for (const parser::Diagnostic& d : result.diagnostics)
    if (d.is_error()) return parser::format_headline(d);
  return "";
}

}  // namespace

TEST_CASE("parser: each instruction's arguments are split as Docker splits them",
          "[parser][dockerfile]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      // FROM, EXPOSE: whitespace-split words; flags kept apart.
      {"FROM --platform=linux/amd64 debian:12 AS base",
       R"(from --platform=linux/amd64 ["debian:12","AS","base"])"},
      {"from alpine", R"(from ["alpine"])"},
      {"EXPOSE 80/tcp\t443  8080/udp", R"(expose ["80/tcp","443","8080/udp"])"},
      // RUN, CMD, ENTRYPOINT, SHELL: JSON form, else one string as written.
      {"RUN apt-get update && apt-get install -y curl",
       R"(run ["apt-get update && apt-get install -y curl"])"},
      {R"(RUN ["echo", "hi there"])", R"(run ["echo","hi there"] json)"},
      {R"(RUN [ "a\tb", "\u00e9\"" ] )", R"(run ["a\tb","é\""] json)"},
      {R"(CMD ["a", 'b'])", R"(cmd ["[\"a\", 'b']"])"},       // not JSON: shell form
      {R"(CMD ["a", "b")", R"(cmd ["[\"a\", \"b\""])"},       // not JSON: shell form
      {R"(CMD ["a"] extra)", R"(cmd ["a"] json)"},  // Docker reads the first JSON value only
      {R"(CMD ["a", "]"] ["b"])", R"(cmd ["a","]"] json)"},
      {R"(CMD ["a\"]", "b")", R"(cmd ["[\"a\\\"]\", \"b\""])"},  // never closed: shell form
      {"CMD []", "cmd [] json"},
      {"CMD", "cmd []"},
      {R"(ENTRYPOINT ["/docker-entrypoint.sh"])", R"(entrypoint ["/docker-entrypoint.sh"] json)"},
      {"ENTRYPOINT exec nginx -g 'daemon off;'", R"(entrypoint ["exec nginx -g 'daemon off;'"])"},
      {R"(SHELL ["/bin/bash", "-o", "pipefail", "-c"])",
       R"(shell ["/bin/bash","-o","pipefail","-c"] json)"},
      {"SHELL /bin/sh -c", R"(shell ["/bin/sh -c"])"},
      // RUN flags stay in the AST.
      {"RUN --mount=type=cache,target=/root/.cache --network=none --security=insecure pip wheel .",
       R"(run --mount=type=cache,target=/root/.cache --network=none --security=insecure ["pip wheel ."])"},
      {"RUN --mount=type=secret,id=npm,target=/root/.npmrc [\"npm\", \"ci\"]",
       R"(run --mount=type=secret,id=npm,target=/root/.npmrc ["npm","ci"] json)"},
      {"RUN --network=none -- --help", R"(run --network=none ["--help"])"},
      {"RUN - -x", R"(run ["- -x"])"},
      // COPY, ADD, VOLUME: JSON form, else whitespace-split words.
      {"COPY --from=build --chown=app:app --chmod=755 --link src/ /app/",
       R"(copy --from=build --chown=app:app --chmod=755 --link ["src/","/app/"])"},
      {"COPY --parents --exclude=*.md --exclude=*.txt ./a/ ./b/ /dst/",
       R"(copy --parents --exclude=*.md --exclude=*.txt ["./a/","./b/","/dst/"])"},
      {R"(COPY ["my file.txt", "/dst dir/"])", R"(copy ["my file.txt","/dst dir/"] json)"},
      {R"(COPY --chown="app user" a b)", R"(copy --chown=app user ["a","b"])"},
      {"ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d "
       "https://example.com/x.tar.gz /",
       R"(add --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d ["https://example.com/x.tar.gz","/"])"},
      {"ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit",
       R"(add --keep-git-dir=true ["https://github.com/moby/buildkit.git#v0.10.1","/buildkit"])"},
      {R"(VOLUME ["/data", "/logs"])", R"(volume ["/data","/logs"] json)"},
      {"VOLUME /data /logs", R"(volume ["/data","/logs"])"},
      // ENV, LABEL: key, value pairs; values keep quotes and escapes.
      {R"(ENV A=1 B="x y" C=a\ b D='$HOME')",
       R"(env ["A","1","B","\"x y\"","C","a\\ b","D","'$HOME'"])"},
      {"ENV PATH /usr/local/bin:$PATH", R"(env ["PATH","/usr/local/bin:$PATH"])"},
      {"ENV MSG hello   big \"world\"", R"(env ["MSG","hello   big \"world\""])"},
      {"ENV EMPTY=", R"(env ["EMPTY",""])"},
      {R"(LABEL org.opencontainers.image.title="hoist" "my key"="v")",
       R"(label ["org.opencontainers.image.title","\"hoist\"","\"my key\"","\"v\""])"},
      {"LABEL version 1.0", R"(label ["version","1.0"])"},
      // ARG: name[=value] words, quote-aware, quotes kept.
      {"ARG VERSION", R"(arg ["VERSION"])"},
      {R"(ARG A B=2 C="x y" D=)", R"(arg ["A","B=2","C=\"x y\"","D="])"},
      // WORKDIR, USER, STOPSIGNAL, MAINTAINER: the rest of the line.
      {"WORKDIR /my dir", R"(workdir ["/my dir"])"},
      {"USER app:app", R"(user ["app:app"])"},
      {"STOPSIGNAL SIGQUIT", R"(stopsignal ["SIGQUIT"])"},
      {"MAINTAINER Jane Doe <jane@example.com>", R"(maintainer ["Jane Doe <jane@example.com>"])"},
      // HEALTHCHECK: the type, then the command as for CMD.
      {"HEALTHCHECK NONE", R"(healthcheck ["NONE"])"},
      {"HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 "
       "CMD curl -f http://localhost/ || exit 1",
       R"(healthcheck --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 ["CMD","curl -f http://localhost/ || exit 1"])"},
      {R"(HEALTHCHECK CMD ["curl", "-f", "http://localhost/"])",
       R"(healthcheck ["CMD","curl","-f","http://localhost/"] json)"},
      // ONBUILD: the nested instruction's text.
      {"ONBUILD COPY --from=build . /app", R"(onbuild ["COPY --from=build . /app"])"},
      {"onbuild run make", R"(onbuild ["run make"])"},
  }));
  CAPTURE(text);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  CHECK(first_error(result) == "");
  CHECK(summary(result.file) == expected);
}

TEST_CASE("parser: lines, comments, continuations, BOM and CRLF", "[parser][dockerfile]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"FROM a\n\n# comment\n   # indented comment\nRUN b", "from [\"a\"]\nrun [\"b\"]"},
      {"  RUN b  ", R"(run ["b"])"},
      {"RUN echo # not a comment", R"(run ["echo # not a comment"])"},
      // The escape and blanks after it go; the text before it stays, nothing is added.
      {"RUN a \\\n    b", R"(run ["a     b"])"},
      {"RUN a\\\nb", R"(run ["ab"])"},
      {"RUN a \\   \t\n b", R"(run ["a  b"])"},
      {"RUN a \\\n# comment inside\n  # indented comment\n b", R"(run ["a  b"])"},
      {"RUN a \\\n\n   \n b", R"(run ["a  b"])"},
      {"RUN a \\\n b \\\n c", R"(run ["a  b  c"])"},
      {"RUN a \\", R"(run ["a"])"},  // a continuation at the end of the file just ends
      {"RUN a \\\\\nRUN b", "run [\"a \\\\\\\\\"]\nrun [\"b\"]"},  // an escaped escape
      {"RUN a \\\n\\\n b", R"(run ["a  b"])"},  // an escape alone on a line continues
      {"RUN a\\ b", R"(run ["a\\ b"])"},
      {"ENV A=1 \\\n    B=2", R"(env ["A","1","B","2"])"},
      {"FROM a\r\nRUN b \\\r\n c\r\n", "from [\"a\"]\nrun [\"b  c\"]"},
      {"\xEF\xBB\xBF" "FROM a\nRUN b", "from [\"a\"]\nrun [\"b\"]"},
      {"# escape=`\nRUN a `\n b", R"(run ["a  b"])"},
      {"# escape=`\nCOPY C:\\src\\ C:\\dst\\", R"(copy ["C:\\src\\","C:\\dst\\"])"},
      {"# escape=`\nENV P=C:\\a` b", R"(env ["P","C:\\a` b"])"},
  }));
  CAPTURE(text);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  CHECK(first_error(result) == "");
  CHECK(summary(result.file) == expected);
}

TEST_CASE("parser: line numbers span continuations and heredocs", "[parser][dockerfile]") {
  const char* text =
      "# syntax=docker/dockerfile:1\n"  // 1
      "FROM a\n"                        // 2
      "\n"                              // 3
      "RUN a \\\n"                      // 4
      "  # comment\n"                   // 5
      "  b\n"                           // 6
      "COPY <<EOF /x\n"                 // 7
      "hi\n"                            // 8
      "EOF\n"                           // 9
      "CMD c\n";                        // 10
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE(result.file.instructions.size() == 4);
  auto [index, line, end_line] = GENERATE(table<size_t, int, int>({
      {0, 2, 2},
      {1, 4, 6},
      {2, 7, 9},
      {3, 10, 10},
  }));
  CAPTURE(index);
  CHECK(result.file.instructions[index].line == line);
  CHECK(result.file.instructions[index].end_line == end_line);
}

TEST_CASE("parser: the original text is the instruction as Docker joins it",
          "[parser][dockerfile]") {
  parser::ParseResult result =
      parser::parse_dockerfile("  RUN set -eux; \\\n# c\n    make\n", "Dockerfile");
  REQUIRE(result.file.instructions.size() == 1);
  CHECK(result.file.instructions[0].original == "RUN set -eux;     make");
}

TEST_CASE("parser: directives are read only at the top", "[parser][dockerfile]") {
  auto [text, escape, directives] = GENERATE(table<std::string, char, std::string>({
      {"# syntax=docker/dockerfile:1.7\n# escape=`\n# check=skip=all\nFROM a", '`',
       R"({"check":"skip=all","escape":"`","syntax":"docker/dockerfile:1.7"})"},
      {"#  ESCAPE =  `  \nFROM a", '`', R"({"escape":"`"})"},
      {"FROM a\n# escape=`", '\\', "{}"},
      {"\n# escape=`\nFROM a", '\\', "{}"},
      {"# a comment\n# escape=`\nFROM a", '\\', "{}"},
      {"# unknown=1\n# escape=`\nFROM a", '\\', "{}"},
      {"# escape=\nFROM a", '\\', "{}"},
      {"# escape=\\\nFROM a", '\\', R"({"escape":"\\"})"},
      {"\xEF\xBB\xBF# syntax=x\nFROM a", '\\', R"({"syntax":"x"})"},
  }));
  CAPTURE(text);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  CHECK(first_error(result) == "");
  CHECK(result.file.escape == escape);
  CHECK(nlohmann::json(result.file.directives).dump() == directives);
}

TEST_CASE("parser: heredocs", "[parser][dockerfile][heredoc]") {
  // Each heredoc as name|content|chomp|expand, joined by "; ".
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"RUN <<EOF\necho hi\nEOF\n", R"(EOF|"echo hi\n"|0|1)"},
      {"RUN <<EOF\nEOF", R"(EOF|""|0|1)"},
      {"RUN <<-EOF\n\techo hi\n\t\tEOF\n", R"(EOF|"\techo hi\n"|1|1)"},
      {"RUN <<EOF\n\tEOF\nEOF\n", R"(EOF|"\tEOF\n"|0|1)"},  // no chomp: a tabbed EOF is content
      {"RUN <<'EOF'\necho $HOME\nEOF\n", R"(EOF|"echo $HOME\n"|0|0)"},
      {"RUN <<\"EOF\"\nx\nEOF\n", R"(EOF|"x\n"|0|0)"},
      {"RUN <<E\"O\"F\nx\nEOF\n", R"(EOF|"x\n"|0|0)"},
      {"RUN python3 <<EOF > /out\nprint(1)\nEOF\n", R"(EOF|"print(1)\n"|0|1)"},
      {"RUN <<A cat - && <<-B cat\na\nA\nb\n\tB\n", R"(A|"a\n"|0|1; B|"b\n"|1|1)"},
      {"RUN 3<<EOF\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"COPY <<EOF /etc/app.conf\nkey=value\nEOF\n", R"(EOF|"key=value\n"|0|1)"},
      {"COPY <<one.txt <<two.txt /dst/\n1\none.txt\n2\ntwo.txt\n",
       R"(one.txt|"1\n"|0|1; two.txt|"2\n"|0|1)"},
      {"ADD <<EOF /x\ny\nEOF\n", R"(EOF|"y\n"|0|1)"},
      {"ONBUILD RUN <<EOF\nmake\nEOF\n", R"(EOF|"make\n"|0|1)"},
      {"RUN <<EOF\r\nhi\r\nEOF\r\n", R"(EOF|"hi\r\n"|0|1)"},
      {"RUN cat <<EOF \\\n  && true\nbody\nEOF\n", R"(EOF|"body\n"|0|1)"},
      // Blanks between `<<` and the word, as BuildKit (dockerfile 1.16+) reads them; the
      // lexer keeps them in the `<<` word, so `<<- EOF` stays two words and is no heredoc.
      {"RUN <<  EOF\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"RUN <<\tEOF\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"RUN <<  EOF  > foo\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"RUN cat << 'EOF' > /f\n$x\nEOF\n", R"(EOF|"$x\n"|0|0)"},
      {"RUN << 'one two'\nx\none two\n", R"(one two|"x\n"|0|0)"},
      {"RUN << -EOF\nx\n-EOF\n", R"(-EOF|"x\n"|0|1)"},
      {"RUN 2<< EOF\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"RUN echo a << b\nc\nb\n", R"(b|"c\n"|0|1)"},
      {"COPY << EOF /dst\nx\nEOF\n", R"(EOF|"x\n"|0|1)"},
      {"RUN <<- EOF", ""},
      {"RUN cat<<  EOF", ""},
      {"RUN cat <<<  EOF", ""},
      {"RUN echo \\<< EOF", ""},
      {"RUN echo \"<< EOF\"", ""},
      {"RUN cat <<EOF 'unterminated", ""},  // BuildKit's lexer fails: no words, no heredocs
      // Not heredocs: quoted, JSON form, other instructions, `<<` alone or with `<` after.
      {"RUN echo \"<<EOF\"", ""},
      {"RUN echo '<<EOF'", ""},
      {"RUN [\"cat\", \"<<EOF\"]", ""},
      {"ENV A <<EOF", ""},
      {"RUN echo a <<", ""},
      {"RUN cat <<<EOF", ""},
  }));
  CAPTURE(text);
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  CHECK(first_error(result) == "");
  REQUIRE(result.file.instructions.size() == 1);
  std::string got;
  for (const parser::Heredoc& doc : result.file.instructions[0].heredocs) {
    if (!got.empty()) got += "; ";
    got += doc.name + "|" + nlohmann::json(doc.content).dump() + "|" + (doc.chomp ? "1" : "0") +
           "|" + (doc.expand ? "1" : "0");
  }
  CHECK(got == expected);
}

TEST_CASE("parser: a heredoc's body is not parsed as instructions", "[parser][heredoc]") {
  parser::ParseResult result =
      parser::parse_dockerfile("FROM a\nRUN <<EOF\nFROMM x\n# escape=`\nEOF\nCMD b\n", "Dockerfile");
  CHECK(first_error(result) == "");
  CHECK(summary(result.file) == "from [\"a\"]\nrun [\"<<EOF\"]\ncmd [\"b\"]");
}

TEST_CASE("parser: syntax errors name the file and line", "[parser][dockerfile][errors]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"FROM a\nRUNN make", R"(Dockerfile:2: unknown instruction "RUNN" (did you mean "RUN"?))"},
      {"FROM a\ncpy a b", R"(Dockerfile:2: unknown instruction "cpy" (did you mean "COPY"?))"},
      {"FORM a", R"(Dockerfile:1: unknown instruction "FORM" (did you mean "FROM"?))"},
      {"ENTRYPONT x", R"(Dockerfile:1: unknown instruction "ENTRYPONT" (did you mean "ENTRYPOINT"?))"},
      {"FROM a\nFROBNICATE x", R"(Dockerfile:2: unknown instruction "FROBNICATE")"},
      {"FROM a\n\nRUN a \\\n  b\nXX", R"(Dockerfile:5: unknown instruction "XX")"},
      {R"(CMD ["a", 1])",
       "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only"},
      {R"(COPY ["a", ["b"]])",
       "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only"},
      {"ENV A", "Dockerfile:1: ENV must have two arguments"},
      {"LABEL A", "Dockerfile:1: LABEL must have two arguments"},
      {"ENV A=1 B",
       R"(Dockerfile:1: Syntax error - can't find = in "B". Must be of the form: name=value)"},
      {"ONBUILD ONBUILD RUN x", "Dockerfile:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
      {"ONBUILD FROM x", "Dockerfile:1: FROM isn't allowed as an ONBUILD trigger"},
      {"ONBUILD maintainer x", "Dockerfile:1: MAINTAINER isn't allowed as an ONBUILD trigger"},
      {"ONBUILD RUNN x", R"(Dockerfile:1: unknown instruction "RUNN" (did you mean "RUN"?))"},
      {"FROM a\nRUN <<EOF\nno end", R"(Dockerfile:2: unterminated heredoc "EOF")"},
      {"FROM a\nRUN <<A <<B\na\nA\n", R"(Dockerfile:2: unterminated heredoc "B")"},
      {"", "Dockerfile: file with no instructions"},
      {"# only a comment\n\n", "Dockerfile: file with no instructions"},
      {"# escape=x\nFROM a", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
      {"FROM a\nRUN " + std::string(70000, 'x'),
       "Dockerfile:2: dockerfile line greater than max allowed size of 65535"},
      {"# escape=`\n# escape=\\\nFROM a",
       "Dockerfile:2: only one escape parser directive can be used"},
      {"# syntax=a\n# SYNTAX=b\nFROM a",
       "Dockerfile:2: only one syntax parser directive can be used"},
  }));
  CAPTURE(text);
  CHECK(first_error(parser::parse_dockerfile(text, "Dockerfile")) == expected);
}

TEST_CASE("parser: an unknown instruction is underlined where it stands", "[parser][errors]") {
  std::string text = "FROM a\n\n\n\n\n\n  RUNN make -C /src\n";
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(parser::format_with_source(result.diagnostics[0], text) ==
        "Dockerfile:7: unknown instruction \"RUNN\" (did you mean \"RUN\"?)\n"
        "    7 |   RUNN make -C /src\n"
        "      |   ^~~~");
}

TEST_CASE("parser: an empty continuation line is a warning, not an error", "[parser][errors]") {
  parser::ParseResult result = parser::parse_dockerfile("FROM a\nRUN a \\\n\n  b\n", "Dockerfile");
  REQUIRE(result.diagnostics.size() == 1);
  CHECK_FALSE(result.diagnostics[0].is_error());
  CHECK(result.diagnostics[0].line == 4);
  CHECK(summary(result.file) == "from [\"a\"]\nrun [\"a   b\"]");
}

TEST_CASE("parser: ONBUILD triggers parse as instructions", "[parser][onbuild]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"ONBUILD COPY --from=build . /app", R"(copy --from=build [".","/app"])"},
      {"ONBUILD RUN [\"make\", \"all\"]", R"(run ["make","all"] json)"},
      {"ONBUILD ENV A=1 B=2", R"(env ["A","1","B","2"])"},
      {"ONBUILD RUN <<EOF\nmake\nEOF", R"(run ["<<EOF"])"},
  }));
  CAPTURE(text);
  parser::ParseResult outer = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE(outer.file.instructions.size() == 1);
  parser::ParseResult nested =
      parser::parse_onbuild_trigger(outer.file.instructions[0], '\\', "Dockerfile");
  CHECK(first_error(nested) == "");
  CHECK(summary(nested.file) == expected);
  CHECK(nested.file.instructions[0].line == 1);
  CHECK(nested.file.instructions[0].heredocs.size() == outer.file.instructions[0].heredocs.size());
}

TEST_CASE("parser: flag_value finds the last occurrence", "[parser][ast]") {
  parser::ParseResult result = parser::parse_dockerfile(
      "COPY --from=a --link --exclude=x --exclude=y --from=b s d", "Dockerfile");
  const parser::Instruction& in = result.file.instructions.at(0);
  auto [name, expected] = GENERATE(table<std::string, std::string>({
      {"from", "b"},
      {"link", ""},
      {"exclude", "y"},
      {"chown", "<none>"},
  }));
  CAPTURE(name);
  CHECK(parser::flag_value(in, name).value_or("<none>") == expected);
  CHECK(parser::flag_values(in, "exclude") == std::vector<std::string>{"x", "y"});
}
