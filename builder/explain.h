#pragma once
// `hoist build --explain`: for a step that is not CACHED, which of its inputs changed
// since the last build of the same step.
//
// Every step's key is made of named inputs (StepInputs). With each cache record the
// builder saves them (<key hex>.inputs.json in the store's cache dir), and per step
// identity (the stage's name or index, the step's index in it, the instruction; nothing of
// the context's or store's location) the key it had last (last-<sha256 of identity>.json).
// A miss loads the inputs of the identity's last key and names what differs: the previous
// step's key ("an earlier step changed"), the instruction text, a build-arg, a context
// file (path; content or mode), the base image, another setting. Both files are local but
// untrusted: they are parsed strictly, and one that is missing or malformed reads as "no
// earlier build of this step". Build-arg values are kept as digests, never as text.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/context.h"
#include "layers/digest.h"
#include "layers/error.h"

namespace builder {

struct StepInputs {
  std::string parent;                          // the previous step's key ("" for FROM)
  std::string instruction;                     // as keyed: expanded, with its flags
  std::map<std::string, std::string> args;     // build args the step sees: name -> digest of the value
  std::optional<EntryInputs> files = EntryInputs{};  // what COPY/ADD or bind mounts read; nullopt: too many to list
  std::string base;                            // FROM: the base image id, "scratch" or "stage NAME"
  std::map<std::string, std::string> settings; // the rest of the key, by name (network, workdir, ...)

  // Lists `entries` as the step's files, or none past kMaxListedFiles (then a change is
  // still found through the key, only not named).
  void set_files(EntryInputs entries);
};

// The reasons `now` differs from `before`, one short phrase each, most telling first
// ("an earlier step changed", "file src/a.txt: content changed", "build-arg V changed").
std::vector<std::string> changed_inputs(const StepInputs& before, const StepInputs& now);

// The permission bits of `mode` as four octal digits ("0755"), as --explain and hoist diff
// show them.
std::string octal_mode(uint32_t mode);

class StepLog {
 public:
  // `dir` is Store::cache_dir().
  explicit StepLog(std::string dir) : dir_(std::move(dir)) {}

  layers::Result<void> save(const layers::Digest& key, const StepInputs& inputs) const;
  std::optional<StepInputs> load(const layers::Digest& key) const;

  // The key step `identity` had in the last build that reached it.
  layers::Result<void> save_last_key(const std::string& identity, const layers::Digest& key) const;
  std::optional<layers::Digest> last_key(const std::string& identity) const;

  // One line for a step that was not cached with `key`: why, compared with the last build
  // of `identity`.
  std::string explain(const std::string& identity, const layers::Digest& key, const StepInputs& now) const;

 private:
  std::string dir_;
};

}  // namespace builder
