#include "builder/cli/command.h"

namespace builder::cli {

std::span<const Command> commands() {
  static const Command table[] = {
      {"version", "Show the hoist version", cmd_version, 1, Rootless::None},
      {"build", "Build an image from a Dockerfile", cmd_build, 1, Rootless::Required},
      {"run", "Run a command in a new container", cmd_run, 1, Rootless::Required},
      {"ps", "List containers", cmd_ps},
      {"rm", "Remove containers", cmd_rm},
      {"parse", "Parse a Dockerfile and print its instructions", cmd_parse, 1, Rootless::None},
      {"pull", "Download an image from a registry", cmd_pull},
      {"push", "Upload an image to a registry", cmd_push},
      {"login", "Log in to a registry", cmd_login, 1, Rootless::None},
      {"logout", "Log out from a registry", cmd_logout, 1, Rootless::None},
      {"images", "List images in the store", cmd_images},
      {"inspect", "Show an image's manifest, config and layers as JSON", cmd_inspect},
      {"tag", "Give an image another name", cmd_tag},
      {"rmi", "Remove images", cmd_rmi},
      {"history", "Show the history of an image", cmd_history},
      {"diff", "Explain why two images differ: config fields, then paths per layer", cmd_diff, 2},
      {"import", "Create an image from a root filesystem tarball", cmd_import},
      {"save", "Write images to a tar archive (docker-archive or OCI)", cmd_save},
      {"load", "Load images from a tar archive", cmd_load},
      {"prune", "Remove unused blobs and unpacked layers", cmd_prune},
      {"fsck", "Check the store for damage", cmd_fsck},
  };
  return table;
}

}  // namespace builder::cli
