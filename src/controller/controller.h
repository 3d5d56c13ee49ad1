// Controller: the generic reconcile loop every behaviour of strake runs on.
//
// A Reconciler looks at one key's desired and actual state, takes one
// idempotent step, writes status, and says when to look again. The
// Controller feeds it keys from a WorkQueue on `workers` threads (one key is
// never reconciled by two threads at once). An error requeues the key with
// backoff; success forgets its failures. Start/Stop are not thread-safe with
// each other; Enqueue is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"
#include "controller/work_queue.h"

namespace strake::controller {

// A work-queue key names one object: "namespace/name".
inline std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

// The namespace and name of an ObjectKey.
inline std::pair<std::string, std::string> SplitObjectKey(const std::string& key) {
  auto slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeue_after;
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual Result<ReconcileResult> Reconcile(const std::string& key) = 0;
};

class Controller {
 public:
  Controller(std::string name, Reconciler& reconciler, int workers);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  void Start();
  // Stops taking keys and joins the workers (a reconcile in progress finishes).
  void Stop();
  void Enqueue(const std::string& key) { queue_.Add(key); }
  // Ahead of the keys already waiting: for work someone is waiting on.
  void EnqueueFirst(const std::string& key) { queue_.AddFirst(key); }
  void EnqueueAfter(const std::string& key, std::chrono::milliseconds d) {
    queue_.AddAfter(key, d);
  }
  // Reconciles `key` on the calling thread now, unless a worker holds it
  // (false: then it is queued, as by Enqueue). For a worker of another
  // controller that just changed what this key's reconcile will see: no
  // hand-off to a worker thread that has to wake up first.
  bool ReconcileHereIfIdle(const std::string& key);
  WorkQueue& queue() { return queue_; }
  // Reconciles done, failed, and keys waiting (ready now), in Prometheus
  // text format.
  std::string PrometheusText() const;

 private:
  void Worker();
  // One reconcile of a key this thread holds, then Done.
  void Process(const std::string& key);

  std::string name_;
  Reconciler& reconciler_;
  int workers_;
  WorkQueue queue_;
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<uint64_t> errors_{0};
  std::vector<std::thread> threads_;
};

}  // namespace strake::controller
