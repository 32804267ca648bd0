#pragma once
// Namespaces: which ones a container gets, and what is set up inside the new ones.

#include <string>

#include "runtime/sandbox/sandbox.h"
#include "layers/error.h"

namespace runtime::sandbox {

// Moves the calling process into new mount, PID, UTS and IPC namespaces, and a new network
// namespace unless Network::Host. The PID namespace applies to children forked afterwards
// (the first becomes PID 1), so the caller must fork once more.
layers::Result<void> enter_namespaces(Network network);

// Sets the UTS namespace's hostname (and NIS domain name, to "(none)").
layers::Result<void> set_hostname(const std::string& hostname);

// Brings `lo` up in a fresh network namespace, as Docker's --network none has it.
layers::Result<void> bring_up_loopback();

}  // namespace runtime::sandbox
