// Progress: what `strake run` shows while a pipeline runs.
//
// On a terminal, a live view redrawn ten times a second: counts, the tasks
// running now with their elapsed time, and the latest to finish. Otherwise
// one line per state change, for logs and CI. Thread-safe: engine threads
// call OnEvent, a ticker thread redraws.
#pragma once

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "pipeline/engine.h"

namespace strake::app {

class Progress {
 public:
  Progress(FILE* out, bool live);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // How many runs the events will be of (1 unless told): with several, each
  // task is named with its run's name, and the live view sums them.
  void ExpectRuns(size_t n);
  void OnEvent(const pipeline::ProgressEvent& e);
  void Stop();

 private:
  void Redraw();
  void Line(const std::string& text);
  double Elapsed() const;

  FILE* out_;
  bool live_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::map<std::string, std::chrono::steady_clock::time_point> running_;  // task run -> start
  std::map<std::string, std::string> running_label_;
  std::deque<std::string> finished_;
  size_t total_ = 0, done_ = 0, failed_ = 0, skipped_ = 0, cached_ = 0;
  std::string run_name_;
  size_t runs_ = 1, runs_finished_ = 0;
  int drawn_lines_ = 0;
  bool frozen_ = false;  // the run finished: no more redraws
  bool stop_ = false;
  std::thread ticker_;
};

}  // namespace strake::app
