#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "registry/client.h"
#include "registry/credentials.h"
#include "registry/reference.h"
#include "registry/settings.h"

namespace builder::cli {

namespace {

std::string read_line(bool echo) {
  termios saved{};
  bool tty = ::isatty(0) && ::tcgetattr(0, &saved) == 0;
  if (tty && !echo) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty && !echo) {
    ::tcsetattr(0, TCSANOW, &saved);
    std::fputs("\n", stderr);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

layers::Result<int> cmd_login(const GlobalOptions& global, const std::vector<std::string>& args) {
  ArgParser parser("hoist login [OPTIONS] [REGISTRY]",
                   "Check credentials against a registry and store them in Docker's config.");
  std::string username, password, tls_ca;
  bool password_stdin = false;
  parser.option("-u,--username", &username, "USER", "user name");
  parser.option("-p,--password", &password, "PASSWORD", "password (prefer --password-stdin)");
  parser.flag("--password-stdin", &password_stdin, "read the password from stdin");
  parser.option("--tls-ca", &tls_ca, "FILE", "also trust the CA certificates in FILE");
  parser.positionals(0, 1, "REGISTRY");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  const std::string host =
      positional.empty() ? "docker.io" : registry::login_host(positional[0]);
  if (host.empty()) return layers::Error(layers::ErrorKind::Usage, "login: empty registry name");
  if (password_stdin && !password.empty())
    return layers::Error(layers::ErrorKind::Usage,
                         "--password and --password-stdin are mutually exclusive");
  if (!password.empty())  // docker's warning, word for word
    std::fputs("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n", stderr);
  if (password_stdin && username.empty())
    return layers::Error(layers::ErrorKind::Usage, "--password-stdin needs --username");
  if (username.empty()) {
    std::fputs("Username: ", stderr);
    username = read_line(true);
  }
  if (password_stdin) {
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
    password = all;
  } else if (password.empty()) {
    std::fputs("Password: ", stderr);
    password = read_line(false);
  }
  if (username.empty() || password.empty())
    return layers::Error(layers::ErrorKind::Usage, "login: a user name and a password are needed");

  auto options = registry::client_options({global.insecure_registries, tls_ca, global.debug}, host);
  if (!options) return std::move(options).error();
  registry::Credentials credentials{username, password, ""};
  options->credentials = credentials;
  registry::Client client(host, std::move(*options));
  if (auto r = client.ping(); !r) return std::move(r).error().context("logging in to " + host);

  auto config = registry::DockerConfig::load();
  if (!config) return std::move(config).error();
  if (auto r = config->store(host, credentials); !r)
    return std::move(r).error().context("storing credentials");
  std::printf("Login Succeeded\n");
  return 0;
}

}  // namespace builder::cli
