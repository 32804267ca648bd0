// hoist: the one binary. Parses the global options, finds the command, runs it, and is
// the only place that prints errors and picks exit codes (0 ok, 1 failure, 2 usage).

#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "layers/store.h"
#include "runtime/rootless.h"
#include "hoist_version.h"

namespace {

using builder::cli::Command;
using builder::cli::GlobalOptions;

void print_main_help() {
  std::printf(
      "Usage: hoist [OPTIONS] COMMAND [ARGS...]\n\n"
      "A daemonless, reproducible Dockerfile-to-image builder and OCI registry client.\n\n"
      "Options:\n"
      "  --root DIR                    image store (default $HOIST_ROOT, /var/lib/hoist for\n"
      "                                root, else $XDG_DATA_HOME/hoist)\n"
      "  --insecure-registry HOST      allow plain HTTP to HOST (repeatable)\n"
      "  --debug                       print what hoist does, step by step\n"
      "  -h, --help                    show this help\n"
      "  -v, --version                 show the version\n\n"
      "Commands:\n");
  for (const Command& c : builder::cli::commands())
    std::printf("  %-12s %.*s\n", std::string(c.name).c_str(), static_cast<int>(c.summary.size()),
                c.summary.data());
  std::printf("\nRun 'hoist COMMAND --help' for more on a command.\n");
}

int fail(const layers::Error& error, int error_exit = 1) {
  // What the command printed to stdout goes first: in a log of both streams the error
  // comes after the progress that led to it.
  std::fflush(stdout);
  std::fprintf(stderr, "hoist: error: %s\n", error.describe().c_str());
  return error.kind() == layers::ErrorKind::Usage ? 2 : error_exit;
}

// A non-root user's hoist runs as root of a user namespace of its own (runtime/rootless.h).
// The store's location is settled first: inside, the default would be root's.
// `COMMAND --help` (as its first argument: later ones may be a container's command's) needs
// no namespace.
layers::Result<void> enter_rootless_namespace(const Command& c, GlobalOptions& global,
                                              const std::vector<std::string>& args) {
  if (::geteuid() == 0 || c.rootless == builder::cli::Rootless::None) return {};
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) return {};
  if (global.root.empty()) global.root = layers::Store::default_root();
  auto entered = runtime::enter_rootless_namespace();
  if (entered) return {};
  if (c.rootless == builder::cli::Rootless::Required || entered.error().kind() != layers::ErrorKind::Unsupported)
    return std::move(entered).error().context("hoist " + std::string(c.name) +
                                              " as a non-root user needs rootless mode");
  if (global.debug)
    std::fprintf(stderr, "hoist: debug: no rootless user namespace, running as uid %u: %s\n",
                 unsigned(::geteuid()), entered.error().describe().c_str());
  return {};
}

// The heap grows in steps of 64 MiB of address space (not glibc's 128 KiB), and the
// first step is given to transparent huge pages where the kernel offers them (THP
// "madvise", Debian's default): a build allocates in waves of small pieces (a COPY plan of
// 20,000 files, its directory listings, the context memo: ~20 MB), and at 4 KiB a page
// those are 5,000 page faults, a quarter of a no-change rebuild's time on a VM (issue 12);
// 2 MiB pages make them a few dozen. glibc's glibc.malloc.hugetlb=1 does the same, but only
// when set in the environment before the process starts. Memory is used as before:
// untouched address space costs nothing, the peak is the peak, and at most 64 MiB of freed
// memory stays at the top of the heap for reuse. Where the heap cannot be grown so
// (another allocator, a sanitizer's), nothing is advised.
void heap_on_huge_pages() {
  constexpr size_t kPad = size_t(64) << 20;
  ::mallopt(M_TOP_PAD, kPad);
  // Small blocks (from the heap, below the mmap threshold) until the break moves: the
  // heap then grows by the pad, and the blocks, freed, go back to its top.
  void* const before = ::sbrk(0);
  void* held[64] = {};
  size_t n = 0;
  while (n < std::size(held) && ::sbrk(0) == before) held[n++] = ::malloc(64 << 10);
  char* const lo = static_cast<char*>(held[0]);
  char* const hi = static_cast<char*>(::sbrk(0));
  for (size_t i = 0; i < n; ++i) ::free(held[i]);
  if (!lo || hi == before || hi <= lo) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t start = (uintptr_t(lo) + page - 1) & ~(page - 1);
  if (start < uintptr_t(hi)) ::madvise(reinterpret_cast<void*>(start), uintptr_t(hi) - start, MADV_HUGEPAGE);
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that goes away (a credential helper exiting unread, a closed socket) is an
  // EPIPE error where it happens, not a silent death; children get SIGPIPE back by default.
  std::signal(SIGPIPE, SIG_IGN);
  heap_on_huge_pages();
  std::vector<std::string> args(argv + 1, argv + argc);
  GlobalOptions global;
  if (const char* root = std::getenv("HOIST_ROOT"); root && *root) global.root = root;

  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') break;
    auto value_of = [&](std::string_view name) -> std::optional<std::string> {
      if (a.starts_with(std::string(name) + "=")) return a.substr(name.size() + 1);
      if (a == name && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (a == "-h" || a == "--help") {
      print_main_help();
      return 0;
    }
    if (a == "-v" || a == "--version") {
      std::printf("hoist version %s\n", HOIST_VERSION);
      return 0;
    }
    if (a == "--debug" || a == "-D") {
      global.debug = true;
    } else if (a == "--root" || a.starts_with("--root=")) {
      auto v = value_of("--root");
      if (!v) return fail({layers::ErrorKind::Usage, "flag needs an argument: --root"});
      global.root = *v;
    } else if (a == "--insecure-registry" || a.starts_with("--insecure-registry=")) {
      auto v = value_of("--insecure-registry");
      if (!v) return fail({layers::ErrorKind::Usage, "flag needs an argument: --insecure-registry"});
      global.insecure_registries.push_back(*v);
    } else {
      std::string flag = a.substr(0, a.find('='));
      std::string best = builder::cli::nearest_name(
          flag, {"--root", "--insecure-registry", "--debug", "--help", "--version"});
      std::string hint = best.empty() ? "" : " (did you mean " + best + "?)";
      return fail({layers::ErrorKind::Usage, "unknown flag: " + a + hint + "; see 'hoist --help'"});
    }
  }
  if (i == args.size()) {
    print_main_help();
    return 2;
  }
  const std::string& name = args[i];
  if (name == "help") {
    if (i + 1 == args.size()) {
      print_main_help();
      return 0;
    }
    args = {args[i + 1], "--help"};
    i = 0;
  }
  const std::string& command_name = args[i];
  for (const Command& c : builder::cli::commands()) {
    if (c.name != command_name) continue;
    std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
    if (auto r = enter_rootless_namespace(c, global, rest); !r) return fail(r.error());
    auto result = c.run(global, rest);
    if (!result) return fail(result.error(), c.error_exit);
    return *result;
  }
  std::string msg = "unknown command \"" + command_name + "\"";
  std::vector<std::string> names;
  for (const Command& c : builder::cli::commands()) names.emplace_back(c.name);
  std::string best = builder::cli::nearest_name(command_name, names);
  if (!best.empty()) msg += " (did you mean \"" + best + "\"?)";
  msg += "; see 'hoist --help'";
  return fail({layers::ErrorKind::Usage, msg});
}
