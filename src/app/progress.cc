#include "app/progress.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/duration.h"

namespace strake::app {

namespace {
const char* Colour(const std::string& state) {
  if (state == "Succeeded" || state == "Cached") return "\033[32m";
  if (state == "Failed" || state == "Cancelled" || state == "TaskRunTimeout") return "\033[31m";
  if (state == "Skipped") return "\033[33m";
  return "\033[36m";
}
}  // namespace

Progress::Progress(FILE* out, bool live) : out_(out), live_(live) {
  if (live_) {
    ticker_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stop_) {
        Redraw();
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        lock.lock();
      }
    });
  }
}

Progress::~Progress() { Stop(); }

void Progress::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (live_) Redraw();
  }
  if (ticker_.joinable()) ticker_.join();
}

double Progress::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::Line(const std::string& text) {
  fmt::print(out_, "[{:7.2f}s] {}\n", Elapsed(), text);
  std::fflush(out_);
}

void Progress::ExpectRuns(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  runs_ = std::max<size_t>(1, n);
}

void Progress::OnEvent(const pipeline::ProgressEvent& e) {
  using T = pipeline::ProgressEvent::Type;
  std::lock_guard<std::mutex> lock(mu_);
  std::string task = (runs_ > 1 ? e.pipeline_run + "/" : "") + e.pipeline_task +
                     (e.is_finally ? " (finally)" : "");
  if (e.task_run.size() > e.pipeline_run.size() + e.pipeline_task.size() + 1) {
    task += " [" + e.task_run.substr(e.pipeline_run.size() + e.pipeline_task.size() + 2) + "]";
  }
  switch (e.type) {
    case T::kRunStarted:
      if (e.nested) {  // a task's child PipelineRun: its tasks count too
        total_ += e.total_tasks;
        if (!live_) {
          Line(fmt::format("{:<28} runs pipelinerun {} ({} tasks)",
                           e.pipeline_task.substr(0, e.pipeline_task.size() - 1), e.task_run,
                           e.total_tasks));
        }
        break;
      }
      run_name_ = runs_ > 1 ? fmt::format("{} pipelineruns", runs_) : e.pipeline_run;
      total_ += e.total_tasks;
      if (!live_)
        Line(fmt::format("pipelinerun {} started ({} tasks)", e.pipeline_run, e.total_tasks));
      break;
    case T::kTaskStarted:
      running_[e.task_run] = std::chrono::steady_clock::now();
      running_label_[e.task_run] = task;
      if (!live_) Line(fmt::format("{:<28} Running", task));
      break;
    case T::kTaskRetrying:
      if (!live_) Line(fmt::format("{:<28} Retrying: {}", task, e.message));
      break;
    case T::kTaskFinished: {
      running_.erase(e.task_run);
      running_label_.erase(e.task_run);
      if (e.state != "Running") ++done_;
      if (e.state == "Failed" || e.state == "Cancelled") ++failed_;
      if (e.state == "Cached") ++cached_;
      std::string line =
          fmt::format("{:<28} {} ({}){}", task, e.state,
                      FormatDuration(std::chrono::milliseconds(e.duration_ms)),
                      e.state == "Succeeded" || e.state == "Cached" ? "" : ": " + e.message);
      if (live_) {
        finished_.push_back(fmt::format("{}{:<10}\033[0m {:<28} {}", Colour(e.state), e.state, task,
                                        FormatDuration(std::chrono::milliseconds(e.duration_ms))));
        if (finished_.size() > 8) finished_.pop_front();
      } else {
        Line(line);
      }
      break;
    }
    case T::kTaskSkipped:
      ++skipped_;
      if (live_) {
        finished_.push_back(fmt::format("{}{:<10}\033[0m {:<28} {}", Colour("Skipped"), "Skipped",
                                        task, e.message));
        if (finished_.size() > 8) finished_.pop_front();
      } else {
        Line(fmt::format("{:<28} Skipped: {}", task, e.message));
      }
      break;
    case T::kRunFinished:
      if (e.nested) break;  // its task's end is told
      if (live_ && ++runs_finished_ >= runs_) {
        Redraw();  // The final state, in place; then the view stays as it is.
        frozen_ = true;
      }
      fmt::print(out_, "pipelinerun {} {}: {} ({:.2f}s)\n", e.pipeline_run, e.state, e.message,
                 Elapsed());
      std::fflush(out_);
      break;
  }
}

void Progress::Redraw() {
  if (!live_ || run_name_.empty() || frozen_) return;
  std::string screen;
  for (int i = 0; i < drawn_lines_; ++i) screen += "\033[1A\033[2K";
  int lines = 0;
  auto add = [&](const std::string& s) {
    screen += s + "\n";
    ++lines;
  };
  add(
      fmt::format("\033[1m{}{}\033[0m  {}/{} done, {} running, {} failed, {} skipped, {} cached  "
                  "{:.1f}s",
                  runs_ > 1 ? "" : "pipelinerun ", run_name_, done_, total_, running_.size(),
                  failed_, skipped_, cached_, Elapsed()));
  for (const auto& f : finished_) add("  " + f);
  size_t shown = 0;
  auto now = std::chrono::steady_clock::now();
  for (const auto& [name, start] : running_) {
    if (++shown > 12) {
      add(fmt::format("  ... and {} more running", running_.size() - 12));
      break;
    }
    double s = std::chrono::duration<double>(now - start).count();
    add(fmt::format("  {}{:<10}\033[0m {:<28} {:.1f}s", Colour("Running"), "Running",
                    running_label_[name], s));
  }
  drawn_lines_ = lines;
  fmt::print(out_, "{}", screen);
  std::fflush(out_);
}

}  // namespace strake::app
