#include "layers/overlay_xattr.h"

#include <fstream>
#include <sstream>

namespace layers {

bool in_initial_user_namespace() {
  static const bool initial = [] {
    std::ifstream in("/proc/self/uid_map");
    if (!in) return true;  // no /proc: assume the host's
    uint64_t inside = 0, outside = 0, count = 0;
    if (!(in >> inside >> outside >> count)) return true;
    std::string rest;
    return inside == 0 && outside == 0 && count == 4294967295ull && !(in >> rest);
  }();
  return initial;
}

std::string overlay_xattr(std::string_view name) {
  return (in_initial_user_namespace() ? "trusted.overlay." : "user.overlay.") + std::string(name);
}

bool is_layer_xattr(std::string_view name) {
  if (name.starts_with("user.overlay.") && !in_initial_user_namespace()) return false;
  return name.starts_with("user.") || name == "security.capability";
}

}  // namespace layers
