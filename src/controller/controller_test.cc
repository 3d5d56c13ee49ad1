#include "controller/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

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

}  // namespace
}  // namespace strake::controller
