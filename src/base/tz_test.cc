#include "base/tz.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <random>

namespace strake {
namespace {

int64_t At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

TEST(Civil, DaysRoundTripAndWeekdays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(Weekday(0), 4);  // a Thursday
  EXPECT_EQ(Weekday(DaysFromCivil(2026, 12, 5)), 6);
  for (int64_t d = -800000; d < 800000; d += 997) {
    CivilDate c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
  }
  EXPECT_EQ(DaysInMonth(2028, 2), 29u);
  EXPECT_EQ(DaysInMonth(2100, 2), 28u);
}

TEST(PosixTz, ReadsRulesAndRefusesBadOnes) {
  auto ny = ParsePosixTz("EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(ny) << ny.error().message;
  EXPECT_EQ(ny->std_offset, -5 * 3600);
  EXPECT_EQ(*ny->dst_offset, -4 * 3600);
  // 2040: second Sunday of March (11th) at 02:00 EST, first of November (4th).
  auto [in, out] = ny->ChangesIn(2040);
  EXPECT_EQ(in, At(2040, 3, 11, 7));
  EXPECT_EQ(out, At(2040, 11, 4, 6));
  auto tehran = ParsePosixTz("<+0330>-3:30");
  ASSERT_TRUE(tehran) << tehran.error().message;
  EXPECT_EQ(tehran->OffsetAt(At(2050, 7, 1)), 3 * 3600 + 1800);
  auto sydney = ParsePosixTz("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(sydney);
  EXPECT_EQ(sydney->OffsetAt(At(2050, 1, 15)), 11 * 3600);  // southern summer
  EXPECT_EQ(sydney->OffsetAt(At(2050, 7, 15)), 10 * 3600);
  for (const char* bad : {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "EST5x"})
    EXPECT_FALSE(ParsePosixTz(bad)) << bad;
}

TEST(TimeZone, ReadsTheTzDatabaseAndItsRuleBeyondTheTable) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny) << ny.error().message;
  const TimeZone& z = **ny;
  EXPECT_EQ(z.OffsetAt(At(2026, 1, 15)), -5 * 3600);
  EXPECT_EQ(z.OffsetAt(At(2026, 7, 15)), -4 * 3600);
  EXPECT_EQ(z.OffsetAt(At(2026, 3, 8, 7) - 1), -5 * 3600);  // 01:59:59 EST
  EXPECT_EQ(z.OffsetAt(At(2026, 3, 8, 7)), -4 * 3600);      // 03:00 EDT
  EXPECT_EQ(z.OffsetAt(At(2090, 7, 15)), -4 * 3600);        // the footer's rule
  EXPECT_EQ(z.OffsetAt(At(2090, 12, 15)), -5 * 3600);
  // Wall clock to instant: a skipped time reads with the offset before the
  // change (02:30 → 03:30 EDT); a repeated one is its first occurrence.
  EXPECT_EQ(z.ToUtc(At(2026, 3, 8, 2, 30)), At(2026, 3, 8, 7, 30));
  EXPECT_EQ(z.ToUtc(At(2026, 11, 1, 1, 30)), At(2026, 11, 1, 5, 30));
  EXPECT_EQ(z.ToUtc(At(2026, 6, 1, 9)), At(2026, 6, 1, 13));
  EXPECT_EQ(z.ToLocal(At(2026, 6, 1, 13)), At(2026, 6, 1, 9));
}

TEST(TimeZone, RefusesNamesThatAreNotZones) {
  for (const char* bad : {"../../etc/passwd", "/etc/localtime", "Europe/../UTC", "", "a b"}) {
    auto z = TimeZone::Load(bad);
    ASSERT_FALSE(z) << bad;
    EXPECT_NE(z.error().message.find("not a tz database name"), std::string::npos)
        << z.error().message;
  }
  auto missing = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("not in the tz database"), std::string::npos);
  EXPECT_EQ((*TimeZone::Get("UTC"))->OffsetAt(At(2026, 7, 1)), 0);
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2 too short"));
}

// glibc reads the same files: its localtime_r is the reference for offsets
// over two centuries, in zones north and south, with and without DST.
TEST(TimeZone, AgreesWithGlibcOnRandomInstants) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> when(At(1950, 1, 1), At(2100, 1, 1));
  const char* old = std::getenv("TZ");
  std::string saved = old != nullptr ? old : "";
  for (const char* name : {"America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata",
                           "America/Sao_Paulo", "Pacific/Chatham", "Europe/London"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_TRUE(zone) << zone.error().message;
    ::setenv("TZ", (std::string(":") + name).c_str(), 1);
    ::tzset();
    for (int i = 0; i < 3000; ++i) {
      int64_t t = when(rng);
      std::time_t tt = t;
      std::tm tm{};
      ::localtime_r(&tt, &tm);
      ASSERT_EQ((*zone)->OffsetAt(t), tm.tm_gmtoff) << name << " at " << t;
    }
  }
  if (old != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

}  // namespace
}  // namespace strake
