#include "controller/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace strake::controller {
namespace {

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.Add("a");
  q.Add("a");
  q.Add("b");
  EXPECT_EQ(q.Len(), 2u);
}

TEST(WorkQueue, AddDuringProcessingRequeuesAfterDone) {
  WorkQueue q;
  q.Add("a");
  std::string k;
  ASSERT_TRUE(q.Get(&k));
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);  // Never to a second worker while processing.
  q.Done(k);
  EXPECT_EQ(q.Len(), 1u);
}

TEST(WorkQueue, AddFirstJumpsTheQueue) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("c");
  q.AddFirst("c");  // queued already: moves up, not twice
  q.AddFirst("d");
  std::string k;
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.Get(&k));
    order.push_back(k);
    q.Done(k);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"d", "c", "a", "b"}));
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueue, TryClaimTakesAQueuedKeyButNeverOneInProcess) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  ASSERT_TRUE(q.TryClaim("a"));  // out of the queue, held by the caller
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_FALSE(q.TryClaim("a"));  // held: queued again for after Done
  EXPECT_EQ(q.Len(), 1u);
  q.Done("a");
  EXPECT_EQ(q.Len(), 2u);
  ASSERT_TRUE(q.TryClaim("c"));  // never queued: claimed all the same
  q.Done("c");
  EXPECT_EQ(q.Len(), 2u);
  q.ShutDown();
  EXPECT_FALSE(q.TryClaim("d"));
}

TEST(WorkQueue, AddAfterDelivers) {
  WorkQueue q;
  q.AddAfter("a", std::chrono::milliseconds(20));
  EXPECT_EQ(q.Len(), 0u);
  std::string k;
  ASSERT_TRUE(q.Get(&k));  // Blocks until the delay passes.
  EXPECT_EQ(k, "a");
}

TEST(WorkQueue, ShutDownReleasesWaiters) {
  WorkQueue q;
  std::thread t([&] {
    std::string k;
    EXPECT_FALSE(q.Get(&k));
  });
  q.ShutDown();
  t.join();
}

class CountingReconciler : public Reconciler {
 public:
  Result<ReconcileResult> Reconcile(const std::string& key) override {
    int n = ++calls;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!active.insert(key).second) overlap = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    {
      std::lock_guard<std::mutex> lock(mu);
      active.erase(key);
    }
    if (key == "flaky" && n < 3) return Fail("not yet");
    return ReconcileResult{};
  }
  std::atomic<int> calls{0};
  std::mutex mu;
  std::set<std::string> active;
  bool overlap = false;
};

TEST(Controller, NeverReconcilesOneKeyTwiceAtOnceAndRetriesErrors) {
  CountingReconciler r;
  Controller c("test", r, 4);
  c.Start();
  for (int i = 0; i < 100; ++i) c.Enqueue("same");
  c.Enqueue("flaky");
  for (int i = 0; i < 200 && r.calls < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  c.Stop();
  EXPECT_FALSE(r.overlap);
  EXPECT_GE(r.calls.load(), 3);
}

TEST(Controller, ReconcileHereIfIdleRunsOnTheCallerOrQueuesBehindTheWorker) {
  struct Recorder : Reconciler {
    Result<ReconcileResult> Reconcile(const std::string& key) override {
      std::unique_lock<std::mutex> l(mu);
      threads.push_back(std::this_thread::get_id());
      ++calls;
      cv.notify_all();
      if (key == "slow") cv.wait(l, [&] { return release; });
      return ReconcileResult{};
    }
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::thread::id> threads;
    int calls = 0;
    bool release = false;
  } r;
  Controller c("test", r, 1);
  c.Start();
  EXPECT_TRUE(c.ReconcileHereIfIdle("fast"));
  ASSERT_EQ(r.threads.size(), 1u);
  EXPECT_EQ(r.threads[0], std::this_thread::get_id());

  c.Enqueue("slow");
  {
    std::unique_lock<std::mutex> l(r.mu);
    r.cv.wait(l, [&] { return r.calls == 2; });
  }
  EXPECT_FALSE(c.ReconcileHereIfIdle("slow"));  // the worker holds it
  {
    std::lock_guard<std::mutex> l(r.mu);
    r.release = true;
  }
  r.cv.notify_all();
  {
    std::unique_lock<std::mutex> l(r.mu);
    r.cv.wait(l, [&] { return r.calls == 3; });  // queued behind it, not lost
    EXPECT_NE(r.threads[2], std::this_thread::get_id());
  }
  c.Stop();
}

}  // namespace
}  // namespace strake::controller
