#pragma once
// What a build shows while it runs. Two renderings of one event stream:
//   plain (logs, `--progress plain`): one line per event, "#N TITLE", "#N CACHED",
//     "#N DONE 0.3s", and each line of a step's output as "#N <line>";
//   tty (a terminal, `--progress tty`, or auto on a terminal): a compact live view like
//     BuildKit's: each running step with its elapsed time and the last few lines of its
//     output, replaced by one summary line ("#N TITLE  DONE 0.3s") when it ends.
// Stages that build at once (hoist build --jobs) run steps at the same time: every line
// names its step ("#N"), and a step's title names its stage ("[builder 2/4] RUN make"),
// so interleaved lines stay readable, as in BuildKit's plain progress. A step's partial
// output line is held for that step alone.
// Output goes to one FILE (stderr for `hoist build`); every call is thread-safe.

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace builder {

enum class ProgressMode { Auto, Tty, Plain, Quiet };

// Parses "auto", "tty", "plain", "quiet"; nullopt-like: returns false when unknown.
bool parse_progress_mode(std::string_view text, ProgressMode* out);

class Progress {
 public:
  Progress(ProgressMode mode, std::FILE* out);

  // Starts step number `step` with its title ("[2/3] COPY hello.sh .").
  void begin(int step, std::string title);
  // Output of the running step, as it arrives (partial lines are held until complete).
  void output(int step, std::string_view bytes);
  void cached(int step);
  void done(int step);
  void failed(int step, std::string_view message);
  // The step was stopped because the build was cancelled (another stage failed, Ctrl-C).
  void canceled(int step);
  // Why step `step` is not cached (hoist build --explain): "#N not cached: WHY", one line.
  void explain(int step, std::string_view why);
  // A line about step `step` that is not its command's output: "#N RUN executor: overlay",
  // "#N unpacked 2 layers of the base (4.1 MB) 0.3s".
  void step_note(int step, std::string_view line);
  // A line that belongs to no step ("writing image sha256:..."); in the tty view it is
  // printed above the running steps, which stay in view.
  void note(std::string_view line);

  bool is_tty() const { return mode_ == ProgressMode::Tty; }

 private:
  struct Running {
    std::string title;
    std::string partial;
    std::deque<std::string> tail;  // tty: the last lines of its output
    std::chrono::steady_clock::time_point started;
  };

  // The callers of these hold mutex_.
  void print_lines(int step, Running& running, std::string_view bytes);
  void finish_step(int step, std::string_view state, bool show_time);
  void redraw();
  void erase_live();

  ProgressMode mode_;
  std::FILE* out_;
  std::mutex mutex_;
  std::map<int, Running> running_;  // the steps that have begun and not ended, by number
  int live_lines_ = 0;              // tty: lines of the live view currently on screen
};

}  // namespace builder
