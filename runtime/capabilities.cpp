#include "runtime/capabilities.h"

#include <algorithm>
#include <cctype>

#include "runtime/sandbox/sandbox.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// linux/capability.h, by number.
constexpr const char* kNames[] = {
    "CHOWN",           "DAC_OVERRIDE",   "DAC_READ_SEARCH", "FOWNER",        "FSETID",
    "KILL",            "SETGID",         "SETUID",          "SETPCAP",       "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",       "NET_RAW",       "IPC_LOCK",
    "IPC_OWNER",       "SYS_MODULE",     "SYS_RAWIO",       "SYS_CHROOT",    "SYS_PTRACE",
    "SYS_PACCT",       "SYS_ADMIN",      "SYS_BOOT",        "SYS_NICE",      "SYS_RESOURCE",
    "SYS_TIME",        "SYS_TTY_CONFIG", "MKNOD",           "LEASE",         "AUDIT_WRITE",
    "AUDIT_CONTROL",   "SETFCAP",        "MAC_OVERRIDE",    "MAC_ADMIN",     "SYSLOG",
    "WAKE_ALARM",      "BLOCK_SUSPEND",  "AUDIT_READ",      "PERFMON",       "BPF",
    "CHECKPOINT_RESTORE",
};
constexpr int kCount = int(sizeof kNames / sizeof kNames[0]);

// Docker's default seccomp profile opens system calls for a container holding these
// (mount, unshare, setns; ptrace's kcmp, process_vm_*; init_module; acct; reboot; iopl;
// settimeofday; vhangup; mbind; syslog; bpf; perf_event_open; open_by_handle_at).
constexpr const char* kSeccompGated[] = {
    "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_PACCT", "SYS_BOOT", "SYS_RAWIO", "SYS_TIME",
    "SYS_TTY_CONFIG", "SYS_NICE", "SYSLOG", "BPF", "PERFMON", "DAC_READ_SEARCH",
};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "a,b" and "c" as given on the command line: {"a", "b", "c"}, upper case, no CAP_ prefix.
std::vector<std::string> split_names(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string name = upper(std::string_view(value).substr(start, comma - start));
      if (name.starts_with("CAP_")) name.erase(0, 4);
      out.push_back(name);
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace

int capability_number(std::string_view name) {
  std::string wanted = upper(name);
  if (wanted.starts_with("CAP_")) wanted.erase(0, 4);
  for (int i = 0; i < kCount; ++i)
    if (wanted == kNames[i]) return i;
  return -1;
}

std::string capability_name(int number) {
  if (number >= 0 && number < kCount) return std::string("CAP_") + kNames[number];
  return "CAP_" + std::to_string(number);
}

Result<uint64_t> resolve_capabilities(const std::vector<std::string>& adds,
                                      const std::vector<std::string>& drops) {
  const auto add_names = split_names(adds), drop_names = split_names(drops);
  auto mask_of = [](const std::string& flag, const std::string& name) -> Result<uint64_t> {
    const int number = capability_number(name);
    if (number < 0)
      return Error(ErrorKind::Usage, flag + " " + (name.empty() ? "\"\"" : name) + ": unknown capability");
    return uint64_t(1) << number;
  };
  bool drops_all = false;
  uint64_t dropped = 0, added = 0;
  for (const std::string& name : drop_names) {
    if (name == "ALL") {
      drops_all = true;
      continue;
    }
    auto mask = mask_of("--cap-drop", name);
    if (!mask) return std::move(mask).error();
    dropped |= *mask;
  }
  for (const std::string& name : add_names) {
    if (name == "ALL")
      return Error(ErrorKind::Usage,
                   "--cap-add ALL: not supported (hoist's seccomp profile keeps refused the "
                   "system calls Docker's opens with it; name the capabilities)");
    auto mask = mask_of("--cap-add", name);
    if (!mask) return std::move(mask).error();
    if (std::find(std::begin(kSeccompGated), std::end(kSeccompGated), name) != std::end(kSeccompGated))
      return Error(ErrorKind::Usage,
                   "--cap-add " + name + ": not supported (Docker's seccomp profile opens system "
                   "calls for it, which hoist's keeps refused)");
    added |= *mask;
  }
  if (drops_all) return added;
  return (sandbox::kDefaultCapabilities & ~dropped) | added;
}

}  // namespace runtime
