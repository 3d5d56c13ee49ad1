// GroupSync: a lone writer syncs once per write; writers that arrive while a
// sync runs share the next one; a failed sync fails exactly what it covered.
#include "base/group_sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <thread>
#include <vector>

namespace strake {
namespace {

// A sync that blocks until released, counting its calls.
struct GatedSync {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> entered{0};
  int fail_first_with = 0;
  int operator()(int /*fd*/) {
    int n = ++entered;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
    if (n == 1 && fail_first_with != 0) {
      errno = fail_first_with;
      return -1;
    }
    return 0;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

TEST(GroupSync, ALoneWriterSyncsOncePerWriteAndNotForWhatIsAlreadyDurable) {
  int calls = 0;
  GroupSync g(-1, "log", [&](int) {
    ++calls;
    return 0;
  });
  uint64_t a = g.Wrote();
  ASSERT_TRUE(g.Durable(a));
  ASSERT_TRUE(g.Durable(a));
  uint64_t b = g.Wrote();
  ASSERT_TRUE(g.Durable(b));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(g.syncs(), 2u);
}

TEST(GroupSync, WritersArrivingDuringASyncShareTheNextOne) {
  GatedSync gate;
  GroupSync g(-1, "log", [&](int fd) { return gate(fd); });
  uint64_t first = g.Wrote();
  auto leader = std::async(std::launch::async, [&] { return g.Durable(first).has_value(); });
  while (gate.entered.load() == 0) std::this_thread::yield();
  // Eight writers write while the first sync runs: it began before their
  // writes, so it cannot cover them.
  std::atomic<int> written{0};
  std::vector<std::future<bool>> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back(std::async(std::launch::async, [&] {
      uint64_t t = g.Wrote();
      ++written;
      return g.Durable(t).has_value();
    }));
  }
  while (written.load() < 8) std::this_thread::yield();
  gate.Open();
  EXPECT_TRUE(leader.get());
  for (auto& f : others) EXPECT_TRUE(f.get());
  EXPECT_EQ(g.syncs(), 2u) << "one sync for the first write, one for the eight after it";
}

TEST(GroupSync, AFailedSyncFailsWhatItCoveredAndLaterWritesAreSyncedAgain) {
  GatedSync gate;
  gate.fail_first_with = EIO;
  GroupSync g(-1, "audit.log", [&](int fd) { return gate(fd); });
  uint64_t t1 = g.Wrote();
  auto first = std::async(std::launch::async, [&] { return g.Durable(t1); });
  while (gate.entered.load() == 0) std::this_thread::yield();
  gate.Open();
  auto st = first.get();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("audit.log"), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  // Asked again, the lost write is still reported lost, without a new sync.
  EXPECT_FALSE(g.Durable(t1));
  EXPECT_EQ(g.syncs(), 1u);
  uint64_t t2 = g.Wrote();
  EXPECT_TRUE(g.Durable(t2));
  EXPECT_EQ(g.syncs(), 2u);
}

}  // namespace
}  // namespace strake
