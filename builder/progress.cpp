#include "builder/progress.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace builder {

namespace {
constexpr size_t kTailLines = 6;

double seconds_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}
}  // namespace

bool parse_progress_mode(std::string_view text, ProgressMode* out) {
  if (text == "auto" || text.empty()) *out = ProgressMode::Auto;
  else if (text == "tty") *out = ProgressMode::Tty;
  else if (text == "plain") *out = ProgressMode::Plain;
  else if (text == "quiet") *out = ProgressMode::Quiet;
  else return false;
  return true;
}

Progress::Progress(ProgressMode mode, std::FILE* out) : mode_(mode), out_(out) {
  if (mode_ == ProgressMode::Auto)
    mode_ = ::isatty(::fileno(out_)) ? ProgressMode::Tty : ProgressMode::Plain;
}

void Progress::begin(int step, std::string title) {
  if (mode_ == ProgressMode::Quiet) return;
  std::lock_guard lock(mutex_);
  Running& running = running_[step];
  running = Running{std::move(title), "", {}, std::chrono::steady_clock::now()};
  if (mode_ == ProgressMode::Plain) {
    std::fprintf(out_, "#%d %s\n", step, running.title.c_str());
    std::fflush(out_);
  } else if (mode_ == ProgressMode::Tty) {
    redraw();
  }
}

void Progress::output(int step, std::string_view bytes) {
  if (mode_ == ProgressMode::Quiet) return;
  std::lock_guard lock(mutex_);
  print_lines(step, running_[step], bytes);
  if (mode_ == ProgressMode::Tty) redraw();
  std::fflush(out_);
}

void Progress::print_lines(int step, Running& running, std::string_view bytes) {
  running.partial.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = running.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = running.partial.substr(start, nl - start);
    if (mode_ == ProgressMode::Plain) {
      std::fprintf(out_, "#%d %s\n", step, line.c_str());
    } else {
      running.tail.push_back(std::move(line));
      if (running.tail.size() > kTailLines) running.tail.pop_front();
    }
  }
  running.partial.erase(0, start);
}

void Progress::cached(int step) { finish_step(step, "CACHED", false); }
void Progress::done(int step) { finish_step(step, "DONE", true); }
void Progress::canceled(int step) { finish_step(step, "CANCELED", false); }

void Progress::failed(int step, std::string_view message) {
  if (mode_ == ProgressMode::Quiet) return;
  std::lock_guard lock(mutex_);
  Running running = std::move(running_[step]);
  running_.erase(step);
  if (!running.partial.empty()) print_lines(step, running, "\n");
  if (mode_ == ProgressMode::Tty) {
    erase_live();
    std::fprintf(out_, "#%d %s\n", step, running.title.c_str());
    for (const auto& line : running.tail) std::fprintf(out_, "#%d %s\n", step, line.c_str());
  }
  std::fprintf(out_, "#%d ERROR: %.*s\n", step, static_cast<int>(message.size()), message.data());
  if (mode_ == ProgressMode::Tty) redraw();
  std::fflush(out_);
}

void Progress::finish_step(int step, std::string_view state, bool show_time) {
  if (mode_ == ProgressMode::Quiet) return;
  std::lock_guard lock(mutex_);
  Running running = std::move(running_[step]);
  running_.erase(step);
  if (!running.partial.empty()) print_lines(step, running, "\n");
  const int state_size = static_cast<int>(state.size());
  const double elapsed = seconds_since(running.started);
  if (mode_ == ProgressMode::Tty) {
    erase_live();
    if (show_time)
      std::fprintf(out_, "#%d %s  %.*s %.1fs\n", step, running.title.c_str(), state_size, state.data(), elapsed);
    else
      std::fprintf(out_, "#%d %s  %.*s\n", step, running.title.c_str(), state_size, state.data());
    redraw();
  } else if (show_time) {
    std::fprintf(out_, "#%d %.*s %.1fs\n", step, state_size, state.data(), elapsed);
  } else {
    std::fprintf(out_, "#%d %.*s\n", step, state_size, state.data());
  }
  std::fflush(out_);
}

void Progress::explain(int step, std::string_view why) { step_note(step, "not cached: " + std::string(why)); }

void Progress::step_note(int step, std::string_view line) { note("#" + std::to_string(step) + " " + std::string(line)); }

void Progress::note(std::string_view line) {
  if (mode_ == ProgressMode::Quiet) return;
  std::lock_guard lock(mutex_);
  if (mode_ == ProgressMode::Tty) erase_live();
  std::fprintf(out_, "%.*s\n", static_cast<int>(line.size()), line.data());
  if (mode_ == ProgressMode::Tty) redraw();
  std::fflush(out_);
}

// Moves the cursor up over the live view and clears it, so the next print replaces it.
void Progress::erase_live() {
  for (; live_lines_ > 0; --live_lines_) std::fputs("\x1b[1A\x1b[2K", out_);
}

// Every running step, oldest first; with several, each shows fewer lines of its output.
void Progress::redraw() {
  erase_live();
  if (running_.empty()) return;
  const size_t shown = std::max<size_t>(1, kTailLines / running_.size());
  for (const auto& [step, running] : running_) {
    std::fprintf(out_, "\x1b[34m=> #%d %s  %.1fs\x1b[0m\n", step, running.title.c_str(), seconds_since(running.started));
    ++live_lines_;
    const size_t skip = running.tail.size() > shown ? running.tail.size() - shown : 0;
    for (size_t i = skip; i < running.tail.size(); ++i) {
      const std::string& line = running.tail[i];
      std::fprintf(out_, "   %.*s\n", static_cast<int>(std::min<size_t>(line.size(), 100)), line.c_str());
      ++live_lines_;
    }
  }
  std::fflush(out_);
}

}  // namespace builder
