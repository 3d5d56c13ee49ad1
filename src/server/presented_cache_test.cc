#include "server/presented_cache.h"

#include <gtest/gtest.h>

namespace strake::server {
namespace {

PresentedCache::Text T(const std::string& s) { return std::make_shared<const std::string>(s); }

TEST(PresentedCache, AnEntryIsFoundOnlyAtItsResourceVersion) {
  PresentedCache c(1 << 20);
  store::Key k{"Freight", "demo", "f"};
  EXPECT_EQ(c.Find(k, 1), nullptr);
  c.Put(k, 1, T("one"));
  ASSERT_NE(c.Find(k, 1), nullptr);
  EXPECT_EQ(*c.Find(k, 1), "one");
  EXPECT_EQ(c.Find(k, 2), nullptr) << "a newer version is a miss";
  c.Put(k, 2, T("two"));
  EXPECT_EQ(c.Find(k, 1), nullptr) << "replaced";
  EXPECT_EQ(*c.Find(k, 2), "two");
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.bytes(), 3u);
}

TEST(PresentedCache, TheLeastRecentlyUsedGoFirstWhenOverItsBytes) {
  PresentedCache c(10);
  store::Key a{"K", "", "a"}, b{"K", "", "b"}, d{"K", "", "d"};
  c.Put(a, 1, T("aaaa"));
  c.Put(b, 1, T("bbbb"));
  ASSERT_NE(c.Find(a, 1), nullptr);  // a is used: b is the oldest now
  c.Put(d, 1, T("dddd"));
  EXPECT_NE(c.Find(a, 1), nullptr);
  EXPECT_EQ(c.Find(b, 1), nullptr);
  EXPECT_NE(c.Find(d, 1), nullptr);
  EXPECT_LE(c.bytes(), 10u);
  c.Put(b, 2, T("far more than ten bytes"));
  EXPECT_EQ(c.Find(b, 2), nullptr) << "larger than the whole cache: not kept";
}

}  // namespace
}  // namespace strake::server
