#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "base/container.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/process.h"
#include "base/regex.h"
#include "base/sha256.h"
#include "base/stats.h"
#include "base/strings.h"
#include "base/unified_diff.h"

namespace strake {
namespace {

TEST(Strings, SuggestsNearMissesOnly) {
  EXPECT_EQ(DidYouMean("biuld", {"build", "test", "deploy"}), " (did you mean \"build\"?)");
  EXPECT_EQ(DidYouMean("zzzzzz", {"build", "test"}), "");
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

// Found by fuzz/fuzz_http: a request line with a byte that is not UTF-8
// was quoted into the 400's message as is, and the JSON body of the answer
// threw, killing the API server. A quoted value is valid UTF-8 whatever it
// holds: well-formed characters are kept, any other byte is U+FFFD.
TEST(Strings, QuoteGivesValidUtf8WhateverItIsGiven) {
  EXPECT_EQ(Quote("caf\xC3\xA9 \xE2\x89\xA5 \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x89\xA5 \xF0\x9F\x98\x80\"");
  EXPECT_EQ(Quote("G\xFFT"), "\"G\xEF\xBF\xBDT\"");
  EXPECT_EQ(Quote("cut \xC3"), "\"cut \xEF\xBF\xBD\"");          // a character cut in two
  EXPECT_EQ(Quote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(Quote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // a surrogate
  EXPECT_EQ(Quote("a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\u0001\"");
}

TEST(Strings, Utf8CharLengthFollowsRfc3629) {
  EXPECT_TRUE(IsValidUtf8("plain \xC3\xA9 \xE2\x89\xA5 \xF4\x8F\xBF\xBF"));
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_FALSE(IsValidUtf8("\x89PNG\r\n"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("cut \xE2\x89"));
  EXPECT_EQ(Utf8CharLength(""), 0u);
  EXPECT_EQ(Utf8CharLength("a"), 1u);
  EXPECT_EQ(Utf8CharLength("\xC3\xA9x"), 2u);
  EXPECT_EQ(Utf8CharLength("\xE2\x89\xA5"), 3u);
  EXPECT_EQ(Utf8CharLength("\xF4\x8F\xBF\xBF"), 4u);  // U+10FFFF
  EXPECT_EQ(Utf8CharLength("\xF4\x90\x80\x80"), 0u);  // past it
  EXPECT_EQ(Utf8CharLength("\xE0\x80\xAF"), 0u);      // overlong
  EXPECT_EQ(Utf8CharLength("\xE2\x89"), 0u);          // cut short
  EXPECT_EQ(Utf8CharLength("\x80"), 0u);              // a continuation byte
}

TEST(Strings, DnsLabel) {
  EXPECT_TRUE(IsDnsLabel("build-1"));
  EXPECT_FALSE(IsDnsLabel("Build"));
  EXPECT_FALSE(IsDnsLabel("-x"));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
}

TEST(RegexTest, MatchingIsLinearInTheSubject) {
  auto re = Regex::Compile("(a*)*b");
  ASSERT_TRUE(re) << re.error().message;
  EXPECT_FALSE(re->FullMatch(std::string(30, 'a') + "!"));
  EXPECT_FALSE(re->PartialMatch(std::string(1 << 20, 'a')));
  EXPECT_TRUE(re->PartialMatch("xxaab!"));
  EXPECT_FALSE(re->FullMatch("xxaab!"));
  EXPECT_EQ(re->pattern(), "(a*)*b");
  Regex copy = *re;
  EXPECT_TRUE(copy.FullMatch("ab"));
  EXPECT_FALSE(Regex().FullMatch(""));  // an empty Regex matches nothing
}

TEST(RegexTest, ABadPatternIsInvalidWithTheReason) {
  auto bad = Regex::Compile("beta-(0-9]+");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(bad.error().message, "missing ): beta-(0-9]+");
  EXPECT_FALSE(Regex::Compile(R"((a)\1)"));  // no backreferences in Go's syntax
  EXPECT_FALSE(Regex::Compile("a{1001}"));   // over RE2's repeat limit
}

TEST(Duration, ParsesGoSyntax) {
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5'400'000);
  EXPECT_EQ(ParseDuration("1.5s")->count(), 1500);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
  EXPECT_EQ(ParseDuration("2m3s")->count(), 123'000);
}

TEST(Duration, RejectsBadSyntaxClearly) {
  auto r = ParseDuration("10");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing unit"), std::string::npos);
  r = ParseDuration("5 minutes");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown unit"), std::string::npos);
  EXPECT_FALSE(ParseDuration(""));
}

TEST(Duration, DaysOnlyWhereLifetimesAreWrittenInThem) {
  EXPECT_EQ(ParseDuration("30d", DurationUnits::kWithDays)->count(), 30LL * 86'400'000);
  EXPECT_EQ(ParseDuration("1d12h", DurationUnits::kWithDays)->count(), 36LL * 3'600'000);
  EXPECT_EQ(ParseDuration("30d").error().message,
            "invalid duration \"30d\": unknown unit \"d\" (one of ns, us, ms, s, m, h)");
}

TEST(UnifiedDiffTest, UnifiedDiffShowsHunksWithContext) {
  EXPECT_EQ(UnifiedDiff("a", "x\n", "b", "x\n"), "");
  std::string from = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  std::string to = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n";
  // Changes 6 lines apart or closer share a hunk, as in GNU diff.
  EXPECT_EQ(UnifiedDiff("live", from, "desired", to),
            "--- live\n+++ desired\n"
            "@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n");
  std::string longer = "a\nb\n1\n2\n3\n4\n5\n6\n7\n8\nc\n";
  EXPECT_EQ(UnifiedDiff("l", longer, "d", "a\nB\n1\n2\n3\n4\n5\n6\n7\n8\nc\nd\n"),
            "--- l\n+++ d\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n 1\n 2\n 3\n"
            "@@ -9,3 +9,4 @@\n 7\n 8\n c\n+d\n");
  EXPECT_EQ(UnifiedDiff("live", "", "desired", "a\n"),
            "--- live\n+++ desired\n@@ -0,0 +1,1 @@\n+a\n");
}

TEST(Sha1, KnownVectors) {
  // FIPS 180's "abc" and the empty string.
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 a, b;
  a.Field("ab");
  a.Field("c");
  b.Field("a");
  b.Field("bc");
  EXPECT_NE(a.HexDigest(), b.HexDigest());
}

TEST(Sha256, HmacAndConstantTimeCompare) {
  // RFC 4231 test case 2, and GitHub's documented webhook example.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256Hex("It's a Secret to Everybody", "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_EQ(Base64Encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(Base64Decode(Base64Encode("\x01\x02\xff")).value_or(""), "\x01\x02\xff");
  EXPECT_EQ(RandomBytes(16).size(), 16u);
  EXPECT_NE(RandomBytes(16), RandomBytes(16));
}

TEST(Strings, JsonDepthIsCheckedWithoutParsing) {
  EXPECT_TRUE(JsonDepthWithin(R"({"a":[1,{"b":"[[[[["}]})", 3));
  EXPECT_FALSE(JsonDepthWithin(R"({"a":[1,{"b":[]}]})", 3));
  EXPECT_TRUE(JsonDepthWithin(R"("\"[[[")", 0));
  EXPECT_FALSE(JsonDepthWithin(std::string(100000, '['), 100));
}

TEST(Fs, GlobMatchCrossesDirectoriesWithDoubleStar) {
  EXPECT_TRUE(GlobMatch("src/**/*.cc", "src/a/b/c.cc"));
  EXPECT_TRUE(GlobMatch("src/**/*.cc", "src/c.cc"));
  EXPECT_FALSE(GlobMatch("src/*.cc", "src/a/c.cc"));
  EXPECT_TRUE(GlobMatch("**", "a/b"));
}

std::vector<std::string> Env() { return {"PATH=/usr/bin:/bin"}; }

// --run-on-host: a glob matches the image as written or its repository
// (tag and digest off; a registry's port is not a tag); no image at all
// runs on the host.
TEST(Container, RunsOnHostMatchesTheImageOrItsRepository) {
  const std::vector<std::string> marks = {"alpine", "docker.io/library/*", "**/tools/*"};
  EXPECT_TRUE(RunsOnHost("alpine:3.20", marks));
  EXPECT_TRUE(RunsOnHost("alpine@sha256:abc", marks));
  EXPECT_TRUE(RunsOnHost("docker.io/library/python:3.11-slim", marks));
  EXPECT_TRUE(RunsOnHost("127.0.0.1:5000/tools/app:1", marks));
  EXPECT_TRUE(RunsOnHost("127.0.0.1:5000/team/tools/app", marks));
  EXPECT_FALSE(RunsOnHost("127.0.0.1:5000/app:1", marks));
  EXPECT_FALSE(RunsOnHost("alpine-extra:1", marks));
  EXPECT_FALSE(RunsOnHost("ghcr.io/library/alpine", marks));
  EXPECT_TRUE(RunsOnHost("", {}));
  EXPECT_FALSE(RunsOnHost("alpine", {}));
  EXPECT_TRUE(RunsOnHost("ghcr.io/a/b/c:1@sha256:abc", {"**"}));
  EXPECT_TRUE(RunsOnHost("hello:v1", {"**"}));
}

// By selection, as by sorting: R's type 7 at every percentile.
TEST(Stats, PercentileR7InterpolatesBetweenOrderStatistics) {
  EXPECT_DOUBLE_EQ(PercentileR7({315, 670}, 50), 492.5);
  EXPECT_DOUBLE_EQ(PercentileR7({4, 1, 3, 2}, 25), 1.75);
  EXPECT_DOUBLE_EQ(PercentileR7({7}, 90), 7);
  EXPECT_TRUE(std::isnan(PercentileR7({}, 50)));
  std::mt19937_64 rng(37);  // seeded: the same samples every run
  std::uniform_int_distribution<int> value(0, 999);
  for (int n : {2, 3, 10, 101, 1000}) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(value(rng));
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 100.0}) {
      double h = (n - 1) * p / 100;
      auto lo = static_cast<size_t>(std::floor(h));
      size_t hi = std::min(lo + 1, sorted.size() - 1);
      double want = sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
      EXPECT_DOUBLE_EQ(PercentileR7(v, p), want) << n << " " << p;
    }
  }
}

TEST(Process, ReportsExitCode) {
  auto p = Spawn({{"sh", "-c", "exit 7"}, Env(), "", -1, -1, -1, {}});
  ASSERT_TRUE(p) << p.error().message;
  auto w = WaitProcess(*p, std::nullopt);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kExited);
  EXPECT_EQ(w->exit_code, 7);
}

TEST(Process, MissingCommandIsAClearError) {
  auto p = Spawn({{"no-such-command-xyz"}, Env(), "", -1, -1, -1, {}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "no-such-command-xyz: command not found");
}

TEST(Process, TimeoutThenKillGroupTakesGrandchildren) {
  char dir[] = "/tmp/strake-proc-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pidfile = std::string(dir) + "/gc.pid";
  auto p = Spawn(
      {{"sh", "-c", "sleep 30 & echo $! > " + pidfile + "; wait"}, Env(), "", -1, -1, -1, {}});
  ASSERT_TRUE(p);
  auto w = WaitProcess(*p, std::chrono::milliseconds(300));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kTimedOut);
  auto gc = ReadFile(pidfile);
  ASSERT_TRUE(gc);
  pid_t gcpid = std::stoi(*gc);
  KillAndReap(*p);
  // The grandchild is reparented and reaped by init; wait until it is gone.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::string st = ReadFile("/proc/" + std::to_string(gcpid) + "/stat").value_or("");
    gone = st.empty() || st.find(") Z") != std::string::npos;
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone);
  (void)RemoveAll(dir);
}

// A marked process's descendant that left the group (setsid) is found by
// the marker it inherited; a process without the marker is left alone.
TEST(Process, KillMarkedReachesDescendantsOutOfTheGroupOnly) {
  char dir[] = "/tmp/strake-marked-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pidfile = std::string(dir) + "/d.pid";
  std::string marker = "STRAKE_TEST_MARKER=" + std::string(dir);
  std::vector<std::string> env = Env();
  env.push_back(marker);
  auto marked =
      Spawn({{"sh", "-c", "setsid sh -c 'echo $$ > " + pidfile + "; exec sleep 30' & wait"},
             env,
             "",
             -1,
             -1,
             -1,
             {}});
  ASSERT_TRUE(marked);
  auto other = Spawn({{"sleep", "30"}, Env(), "", -1, -1, -1, {}});
  ASSERT_TRUE(other);
  pid_t descendant = 0;
  for (int i = 0; i < 500 && descendant <= 0; ++i) {
    descendant = std::atoi(ReadFile(pidfile).value_or("0").c_str());
    if (descendant <= 0) usleep(10000);
  }
  ASSERT_GT(descendant, 0);
  // Its pid is written just before it execs sleep; while the exec is under
  // way its environment cannot be read, so wait until it is sleep.
  for (int i = 0; i < 500; ++i) {
    auto cmdline = ReadFile("/proc/" + std::to_string(descendant) + "/cmdline");
    if (cmdline && cmdline->starts_with("sleep")) break;
    usleep(10000);
  }
  EXPECT_TRUE(HasEnvMarker(descendant, marker));
  EXPECT_FALSE(HasEnvMarker(other->pid(), marker));
  EXPECT_EQ(MarkedProcesses({marker}).size(), 2u);
  EXPECT_EQ(KillMarked({marker}), 2);
  auto w = WaitProcess(*marked, std::chrono::milliseconds(5000));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kExited);
  EXPECT_TRUE(MarkedProcesses({marker}).empty());
  auto still = WaitProcess(*other, std::chrono::milliseconds(0));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->outcome, WaitOutcome::kTimedOut) << "an unmarked process was killed";
  KillAndReap(*other);
  (void)RemoveAll(dir);
}

// The environment is read in chunks: a marker after 200 KiB of other
// variables, across a chunk's edge, is found; an entry that only starts or
// ends with the marker is not one.
TEST(Process, AMarkerIsAWholeEntryAnywhereInALargeEnvironment) {
  const std::string marker = "STRAKE_TEST_MARKER=chunked-" + std::to_string(::getpid());
  std::vector<std::string> near = {marker + "x", "X" + marker, marker.substr(0, marker.size() - 1)};
  for (int i = 0; i < 4; ++i) {  // one string may hold 128 KiB at most (MAX_ARG_STRLEN)
    near.push_back(fmt::format("BIG{}={}", i, std::string(50 * 1024, 'x')));
  }
  size_t offset = 0;
  for (const auto& e : near) offset += e.size() + 1;
  // Padding that starts the marker 5 bytes before a 16 KiB boundary.
  const size_t chunk = 16384;
  size_t pad = (offset / chunk + 2) * chunk - 5 - offset - 1;
  std::vector<std::string> env = near;
  env.push_back(std::string(pad, 'y'));
  env.push_back(marker);
  auto with = Spawn({{"/bin/sleep", "30"}, env, "", -1, -1, -1, {}});
  ASSERT_TRUE(with);
  auto without = Spawn({{"/bin/sleep", "30"}, near, "", -1, -1, -1, {}});
  ASSERT_TRUE(without);
  // Until each has exec'd, its environment is its parent's (or empty).
  for (pid_t pid : {with->pid(), without->pid()}) {
    for (int i = 0; i < 500; ++i) {
      auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
      if (cmdline && cmdline->starts_with("sleep")) break;
      usleep(10000);
    }
  }
  EXPECT_TRUE(HasEnvMarker(with->pid(), marker));
  EXPECT_FALSE(HasEnvMarker(without->pid(), marker));
  EXPECT_EQ(MarkedProcesses({marker}), std::vector<pid_t>{with->pid()});
  KillAndReap(*with);
  KillAndReap(*without);
}

// Markers added together are swept by one scan of /proc, not one each; a
// Flush returns once every marker added before it is swept.
TEST(Process, MarkedSweeperSweepsMarkersThatComeTogetherInOneScan) {
  MarkedSweeper sweeper(std::chrono::milliseconds(200));
  std::vector<Process> marked;
  std::vector<std::string> markers;
  for (int i = 0; i < 5; ++i) {
    markers.push_back("STRAKE_TEST_SWEEP=" + std::to_string(::getpid()) + "-" + std::to_string(i));
    std::vector<std::string> env = Env();
    env.push_back(markers.back());
    auto p = Spawn({{"sleep", "30"}, env, "", -1, -1, -1, {}});
    ASSERT_TRUE(p);
    marked.push_back(std::move(*p));
  }
  auto other = Spawn({{"sleep", "30"}, Env(), "", -1, -1, -1, {}});
  ASSERT_TRUE(other);
  for (const auto& m : markers) sweeper.Add(m);
  sweeper.Flush();
  EXPECT_EQ(sweeper.scans(), 1);
  EXPECT_EQ(sweeper.killed(), 5);
  for (auto& p : marked) {
    auto w = WaitProcess(p, std::chrono::milliseconds(5000));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->outcome, WaitOutcome::kExited);
  }
  auto still = WaitProcess(*other, std::chrono::milliseconds(0));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->outcome, WaitOutcome::kTimedOut) << "an unmarked process was killed";
  KillAndReap(*other);
}

// Without a Flush, a marker is swept once its batch has passed.
TEST(Process, MarkedSweeperSweepsWithinItsBatchUnasked) {
  MarkedSweeper sweeper(std::chrono::milliseconds(10));
  std::string marker = "STRAKE_TEST_SWEEP=" + std::to_string(::getpid()) + "-alone";
  std::vector<std::string> env = Env();
  env.push_back(marker);
  auto p = Spawn({{"sleep", "30"}, env, "", -1, -1, -1, {}});
  ASSERT_TRUE(p);
  sweeper.Add(marker);
  auto w = WaitProcess(*p, std::chrono::milliseconds(5000));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kExited);
  sweeper.Flush();
  EXPECT_EQ(sweeper.killed(), 1);
}

TEST(Process, WakeFdInterruptsWait) {
  auto p = Spawn({{"sleep", "30"}, Env(), "", -1, -1, -1, {}});
  ASSERT_TRUE(p);
  int efd = eventfd(0, EFD_CLOEXEC);
  uint64_t one = 1;
  ASSERT_EQ(write(efd, &one, sizeof one), 8);
  auto w = WaitProcess(*p, std::nullopt, efd);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->outcome, WaitOutcome::kWoken);
  KillAndReap(*p);
  close(efd);
}

}  // namespace
}  // namespace strake

namespace strake {
namespace {

TEST(Result, ErrorsKeepTheirCodeOnTheWayUp) {
  Status s = Failf(ErrorCode::kConflict, "rollout {} moved", "web");
  ASSERT_FALSE(s);
  Error up = s.error().Wrap("promote").Wrap("api");
  EXPECT_EQ(up.message, "api: promote: rollout web moved");
  EXPECT_TRUE(up.Is(ErrorCode::kConflict));
  EXPECT_EQ(Fail("plain").value().code, ErrorCode::kUnknown);
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNotFound), "NotFound");
}

}  // namespace
}  // namespace strake

namespace strake {
namespace {

TEST(Ids, UlidEncodesItsTimeFirstAndSortsByIt) {
  // The time part of ulid/spec's example: 1469918176385 ms -> 01ARYZ6S41.
  std::string u = NewUlid(1469918176385);
  ASSERT_EQ(u.size(), 26u);
  EXPECT_EQ(u.substr(0, 10), "01ARYZ6S41");
  EXPECT_NE(u, NewUlid(1469918176385));  // 80 random bits
  EXPECT_LT(NewUlid(1469918176385), NewUlid(1469918176386));
  EXPECT_EQ(u.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos);
}

TEST(Strings, ByteSizesReadAsPowersOf1024) {
  EXPECT_EQ(ParseByteSize("0"), 0);
  EXPECT_EQ(ParseByteSize("512"), 512);
  EXPECT_EQ(ParseByteSize("512B"), 512);
  EXPECT_EQ(ParseByteSize("10K"), 10240);
  EXPECT_EQ(ParseByteSize("512Mi"), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("10G"), int64_t{10} << 30);
  EXPECT_EQ(ParseByteSize("2GiB"), int64_t{2} << 30);
  EXPECT_EQ(ParseByteSize("1TB"), int64_t{1} << 40);
  for (const char* bad : {"", "G", "10X", "1.5G", "-1", "10GG", "99999999999999999T", "10iB"}) {
    EXPECT_EQ(ParseByteSize(bad), std::nullopt) << bad;
  }
}

TEST(Container, ItsArgumentsSayWhatTheSpecSays) {
  ContainerSpec spec;
  spec.image_root = "/tekton/images/0";
  spec.uid = 1000;
  spec.gid = 1001;
  spec.binds = {{"/tekton", "/tekton", false}, {"/data", "/var/data", true}};
  spec.cwd = "/srv";
  spec.pid_namespace = true;
  spec.host_proc_fallback = true;
  spec.sandbox_dev = true;
  spec.hidden = {"/tekton/images"};
  auto back = ParseContainerArgs(ContainerArgs(spec));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->image_root, spec.image_root);
  EXPECT_EQ(back->uid, 1000u);
  EXPECT_EQ(back->gid, 1001u);
  ASSERT_EQ(back->binds.size(), 2u);
  EXPECT_EQ(back->binds[1].target, "/var/data");
  EXPECT_TRUE(back->binds[1].read_only);
  EXPECT_EQ(back->cwd, "/srv");
  EXPECT_TRUE(back->pid_namespace);
  EXPECT_TRUE(back->host_proc_fallback);
  EXPECT_TRUE(back->sandbox_dev);
  EXPECT_EQ(back->hidden, spec.hidden);
  ContainerSpec plain;
  plain.image_root = "/r";
  auto defaults = ParseContainerArgs(ContainerArgs(plain));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->pid_namespace || defaults->host_proc_fallback || defaults->sandbox_dev);
  for (const std::vector<std::string>& bad : {std::vector<std::string>{},
                                              {"/root", "/other"},
                                              {"--uid", "x", "/root"},
                                              {"--bind", "/a", "/root"},
                                              {"--what", "/root"},
                                              {"--uid"}}) {
    EXPECT_FALSE(ParseContainerArgs(bad)) << Join(bad, " ");
  }
}

}  // namespace
}  // namespace strake
