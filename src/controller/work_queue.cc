#include "controller/work_queue.h"

#include <algorithm>

namespace strake::controller {

WorkQueue::WorkQueue() : delay_thread_([this] { DelayLoop(); }) {}

WorkQueue::~WorkQueue() {
  ShutDown();
  delay_thread_.join();
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // Requeued by Done.
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddFirst(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  if (dirty_.count(key)) {
    if (processing_.count(key)) return;  // requeued by Done already
    auto it = std::find(queue_.begin(), queue_.end(), key);
    if (it != queue_.end()) queue_.erase(it);
  }
  dirty_.insert(key);
  if (processing_.count(key)) return;
  queue_.push_front(key);
  cv_.notify_one();
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  if (delay.count() <= 0) {
    Add(key);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  SteadyTime at = std::chrono::steady_clock::now() + delay;
  auto it = waiting_at_.find(key);
  if (it != waiting_at_.end()) {
    if (it->second <= at) return;
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  // The delay thread sleeps until the earliest key: wake it only for an earlier one.
  bool earlier = waiting_.empty() || at < waiting_.begin()->first;
  waiting_.emplace(at, key);
  waiting_at_[key] = at;
  if (earlier) delay_cv_.notify_one();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  int n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = failures_[key]++;
  }
  auto ms = std::min<int64_t>(60'000, int64_t{5} << std::min(n, 20));
  AddAfter(key, std::chrono::milliseconds(ms));
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

bool WorkQueue::Get(std::string* key) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || shutting_down_; });
  if (queue_.empty()) return false;
  *key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(*key);
  processing_.insert(*key);
  return true;
}

bool WorkQueue::TryClaim(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return false;
  if (processing_.count(key)) {
    AddLocked(key);
    return false;
  }
  if (dirty_.erase(key)) {
    auto it = std::find(queue_.begin(), queue_.end(), key);
    if (it != queue_.end()) queue_.erase(it);
  }
  processing_.insert(key);
  return true;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  queue_.clear();
  cv_.notify_all();
  delay_cv_.notify_all();
}

size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void WorkQueue::DelayLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutting_down_) {
    if (waiting_.empty()) {
      delay_cv_.wait(lock);
      continue;
    }
    auto next = waiting_.begin()->first;
    if (std::chrono::steady_clock::now() < next) {
      delay_cv_.wait_until(lock, next);
      continue;
    }
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_at_.erase(key);
    AddLocked(key);
  }
}

}  // namespace strake::controller
