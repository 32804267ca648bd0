#pragma once
// Capability names and `docker run --cap-add/--cap-drop`: which capabilities a container's
// root gets (the mask SandboxSpec::capabilities takes, as /proc/PID/status shows CapEff).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layers/error.h"

namespace runtime {

// The capability's number for a name as Docker takes it: case-insensitive, with or
// without "CAP_" ("net_admin", "CAP_NET_ADMIN"); -1 for a name Linux does not have.
int capability_number(std::string_view name);

// "CAP_NET_ADMIN" for 12; "CAP_<number>" for one this table lacks.
std::string capability_name(int number);

// The set Docker's TweakCapabilities makes from the default set (sandbox::kDefaultCapabilities)
// and the flags, each entry one name or a comma-separated list: `--cap-drop ALL` starts from
// none and keeps only the adds; otherwise the drops leave the default set and the adds join
// it (an add beats a drop of the same name). Usage errors naming the flag and the value:
// an unknown capability ("--cap-add FOO: unknown capability"), and an add hoist cannot honour
// as Docker does: ALL, or one whose system calls Docker's seccomp profile opens for the
// container that holds it (SYS_ADMIN, SYS_PTRACE, SYS_MODULE, ...), which hoist's filter
// keeps refused (runtime/sandbox/seccomp.h).
layers::Result<uint64_t> resolve_capabilities(const std::vector<std::string>& adds,
                                              const std::vector<std::string>& drops);

}  // namespace runtime
