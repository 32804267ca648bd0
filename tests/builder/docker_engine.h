#pragma once
// The Docker engine the interop tests talk to: .ci/run starts a private dockerd and sets
// DOCKER_HOST (and HOIST_DOCKER_ERROR when it could not start it); elsewhere DOCKER_HOST or
// /var/run/docker.sock. Each test skips visibly with the reason this returns.

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/builder/hoist_runner.h"

namespace hoist_test {

// Why no Docker engine answers `cli` (a docker CLI, searched in PATH), or "" when one does.
inline std::string docker_engine_error(const std::string& cli = "docker") {
  if (const char* error = std::getenv("HOIST_DOCKER_ERROR"); error && *error) return error;
  const char* host = std::getenv("DOCKER_HOST");
  if ((!host || !*host) && !std::filesystem::exists("/var/run/docker.sock"))
    return "no Docker engine (set DOCKER_HOST or start dockerd; .ci/run starts one)";
  RunResult version = run_program({cli, "version"});
  if (version.exit_code == 0) return "";
  return cli + " version failed (exit " + std::to_string(version.exit_code) + "): " + version.err;
}

// `s` without its trailing newlines and spaces.
inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace hoist_test
