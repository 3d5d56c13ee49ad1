// WorkQueue: keys to reconcile, with client-go's guarantees.
//
// A key is queued at most once however often it is added; a key being
// processed is never handed to a second worker, and an Add during processing
// queues it again after Done. AddAfter delays an add (the earliest delay
// wins); AddRateLimited backs off per key exponentially (5 ms doubling to
// 60 s) until Forget. Thread-safe. Time comes from the steady clock: the
// queue is driver code, the reconcilers behind it are tested without it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace strake::controller {

class WorkQueue {
 public:
  WorkQueue();
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  // As Add, ahead of every key waiting (a key already queued moves up).
  void AddFirst(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);

  // Blocks for the next key; false once shut down and drained of ready keys.
  bool Get(std::string* key);
  void Done(const std::string& key);
  // Takes `key` for the calling thread as Get would (out of the queue if it
  // waits there), unless a worker is processing it: then it is added, to be
  // requeued after Done, and the answer is false. Done follows a true.
  bool TryClaim(const std::string& key);

  void ShutDown();
  size_t Len() const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  void DelayLoop();
  void AddLocked(const std::string& key);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable delay_cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  std::multimap<SteadyTime, std::string> waiting_;
  std::unordered_map<std::string, SteadyTime> waiting_at_;
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;
  std::thread delay_thread_;
};

}  // namespace strake::controller
