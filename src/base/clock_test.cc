#include "base/clock.h"

#include <gtest/gtest.h>

namespace strake {
namespace {

int64_t Ms(const std::string& text) {
  auto t = ParseRfc3339(text);
  EXPECT_TRUE(t) << text;
  return t ? UnixMillis(*t) : -1;
}

TEST(Rfc3339, FractionsAndOffsetsAreTheSameInstantAsUtc) {
  const int64_t utc = Ms("2026-12-07T06:00:00Z");
  EXPECT_EQ(utc, 1796623200000);
  EXPECT_EQ(Ms("2026-12-07T06:00:00.525Z"), utc + 525);
  EXPECT_EQ(Ms("2026-12-07T06:00:00.5Z"), utc + 500);
  EXPECT_EQ(Ms("2026-12-07T06:00:00.123456789Z"), utc + 123);  // Alertmanager's nanoseconds
  EXPECT_EQ(Ms("2026-12-07T08:00:00+02:00"), utc);
  EXPECT_EQ(Ms("2026-12-07T00:30:00.250-05:30"), utc + 250);
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-12-07T06:00:00Z")), "2026-12-07T06:00:00Z");
}

TEST(Rfc3339, AnythingElseIsNoTime) {
  for (const char* bad :
       {"2026-12-07T06:00:00", "2026-12-07T06:00:00.Z", "2026-12-07T06:00:00+0200",
        "2026-12-07T06:00:00Zjunk", "2026-12-07 06:00:00Z", "2026-02-30T00:00:00Z",
        "2026-12-07T06:00:60Z", "2026-12-07T06:00:00+24:00", "2026-12-07T06:00:00+02:60",
        "yesterday", ""}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace strake
