#include "builder/progress.h"

#include <unistd.h>

#include <string>

namespace builder {

namespace {
constexpr size_t kTailLines = 6;
}

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

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void Progress::begin(int step, std::string title) {
  step_ = step;
  is_running_ = true;
  title_ = std::move(title);
  partial_.clear();
  tail_.clear();
  started_ = std::chrono::steady_clock::now();
  if (mode_ == ProgressMode::Plain) {
    std::fprintf(out_, "#%d %s\n", step, title_.c_str());
    std::fflush(out_);
  } else if (mode_ == ProgressMode::Tty) {
    redraw();
  }
}

void Progress::output(int step, std::string_view bytes) {
  if (mode_ == ProgressMode::Quiet) return;
  partial_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = partial_.substr(start, nl - start);
    if (mode_ == ProgressMode::Plain) {
      std::fprintf(out_, "#%d %s\n", step, line.c_str());
    } else {
      tail_.push_back(std::move(line));
      if (tail_.size() > kTailLines) tail_.pop_front();
    }
  }
  partial_.erase(0, start);
  if (mode_ == ProgressMode::Tty) redraw();
  std::fflush(out_);
}

void Progress::flush_partial(int step) {
  if (partial_.empty()) return;
  output(step, "\n");
}

void Progress::cached(int step) { finish_step(step, "CACHED", false); }
void Progress::done(int step) { finish_step(step, "DONE", true); }

void Progress::failed(int step, std::string_view message) {
  flush_partial(step);
  is_running_ = false;
  if (mode_ == ProgressMode::Quiet) return;
  if (mode_ == ProgressMode::Tty) {
    erase_live();
    std::fprintf(out_, "#%d %s\n", step, title_.c_str());
    for (const auto& line : tail_) std::fprintf(out_, "#%d %s\n", step, line.c_str());
  }
  std::fprintf(out_, "#%d ERROR: %.*s\n", step, static_cast<int>(message.size()), message.data());
  std::fflush(out_);
}

void Progress::finish_step(int step, std::string_view state, bool show_time) {
  flush_partial(step);
  is_running_ = false;
  if (mode_ == ProgressMode::Quiet) return;
  if (mode_ == ProgressMode::Tty) {
    erase_live();
    if (show_time)
      std::fprintf(out_, "#%d %s  %.*s %.1fs\n", step, title_.c_str(),
                   static_cast<int>(state.size()), state.data(), elapsed());
    else
      std::fprintf(out_, "#%d %s  %.*s\n", step, title_.c_str(), static_cast<int>(state.size()),
                   state.data());
  } else if (show_time) {
    std::fprintf(out_, "#%d %.*s %.1fs\n", step, static_cast<int>(state.size()), state.data(),
                 elapsed());
  } else {
    std::fprintf(out_, "#%d %.*s\n", step, static_cast<int>(state.size()), state.data());
  }
  std::fflush(out_);
}

void Progress::explain(int step, std::string_view why) {
  note("#" + std::to_string(step) + " not cached: " + std::string(why));
}

void Progress::note(std::string_view line) {
  if (mode_ == ProgressMode::Quiet) return;
  if (mode_ == ProgressMode::Tty) erase_live();
  std::fprintf(out_, "%.*s\n", static_cast<int>(line.size()), line.data());
  if (mode_ == ProgressMode::Tty && is_running_) redraw();
  std::fflush(out_);
}

// Moves the cursor up over the live view and clears it, so the next print replaces it.
void Progress::erase_live() {
  for (; live_lines_ > 0; --live_lines_) std::fputs("\x1b[1A\x1b[2K", out_);
}

void Progress::redraw() {
  erase_live();
  std::fprintf(out_, "\x1b[34m=> #%d %s  %.1fs\x1b[0m\n", step_, title_.c_str(), elapsed());
  live_lines_ = 1;
  for (const auto& line : tail_) {
    std::fprintf(out_, "   %.*s\n", static_cast<int>(std::min<size_t>(line.size(), 100)), line.c_str());
    ++live_lines_;
  }
  std::fflush(out_);
}

}  // namespace builder
