#pragma once
// The registry fixture lives in tests/support/ (shared with the builder tests); these names
// keep the registry tests' spelling. Kept so branches written before the move still build.

#include "tests/support/registry_fixture.h"

namespace registry_test {
using hoist_test::CommandResult;
using hoist_test::free_port;
using hoist_test::read_file;
using hoist_test::RegistryServer;
using hoist_test::run;
using hoist_test::TempDir;
using hoist_test::TestCa;
using hoist_test::TokenIssuer;
using hoist_test::write_file;
}  // namespace registry_test
