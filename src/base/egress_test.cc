#include "base/egress.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "base/net.h"

namespace strake {
namespace {

Status Check(const EgressPolicy& p, const std::string& host) {
  auto r = ResolveTcp(host, 80, &p);
  if (!r) return tl::unexpected(r.error());
  return Ok();
}

TEST(Egress, TheDefaultRefusesEverySpecialPurposeRange) {
  EgressPolicy p;
  for (const char* host : {"127.0.0.1", "127.9.9.9", "localhost", "10.1.2.3", "172.16.0.1",
                           "172.31.255.255", "192.168.1.1", "100.64.0.1", "169.254.169.254",
                           "0.0.0.0", "192.0.2.1", "198.18.0.1", "224.0.0.1", "255.255.255.255"}) {
    auto st = Check(p, host);
    ASSERT_FALSE(st) << host;
    EXPECT_EQ(st.error().code, ErrorCode::kForbidden) << host;
    EXPECT_NE(st.error().message.find("--egress-allow"), std::string::npos) << host;
  }
  for (const char* host : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "1.1.1.1"})
    EXPECT_TRUE(Check(p, host)) << host;
  EXPECT_FALSE(p.allows_file());
}

TEST(Egress, OddSpellingsOfAnAddressAreCheckedAsWhatTheyResolveTo) {
  EgressPolicy p;
  // inet_aton's forms, which the resolver accepts: decimal, hex, short.
  for (const char* host : {"2130706433", "0x7f000001", "0x7f.1", "127.1", "0251.0376.0251.0376"}) {
    auto st = Check(p, host);
    ASSERT_FALSE(st) << host;
    EXPECT_EQ(st.error().code, ErrorCode::kForbidden) << host << ": " << st.error().message;
  }
}

TEST(Egress, TheMessageNamesTheHostTheAddressAndTheSetting) {
  auto st = Check(EgressPolicy(), "169.254.169.254");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "\"169.254.169.254\" (169.254.169.254) is a link-local address, which this server's "
            "egress policy refuses (strake serve --egress-allow link-local allows it)");
}

TEST(Egress, ParseAllowsClassesAndCidrs) {
  auto p = EgressPolicy::Parse("loopback, 10.20.0.0/16,file");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(Check(*p, "127.0.0.1"));
  EXPECT_TRUE(Check(*p, "10.20.3.4"));
  EXPECT_FALSE(Check(*p, "10.21.0.1"));
  EXPECT_FALSE(Check(*p, "169.254.169.254"));
  EXPECT_TRUE(p->allows_file());
  EXPECT_EQ(p->ToString(), "loopback,10.20.0.0/16,file");

  auto priv = EgressPolicy::Parse("private");
  ASSERT_TRUE(priv);
  EXPECT_TRUE(Check(*priv, "192.168.0.7"));
  EXPECT_TRUE(Check(*priv, "100.100.0.1"));
  EXPECT_FALSE(Check(*priv, "127.0.0.1"));
  EXPECT_FALSE(priv->allows_file());

  auto all = EgressPolicy::Parse("all");
  ASSERT_TRUE(all);
  EXPECT_TRUE(Check(*all, "169.254.169.254"));
  EXPECT_TRUE(all->allows_file());
}

TEST(Egress, ParseRefusesWhatItDoesNotKnow) {
  for (const char* bad : {"lo", "10.0.0.0/33", "10.0.0/8x", "300.1.1.1", "::1"}) {
    auto p = EgressPolicy::Parse(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.error().message.find("expected loopback, private"), std::string::npos) << bad;
  }
}

TEST(Egress, CidrMasksItsNetwork) {
  auto c = Cidr::Parse("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->Contains(0x0a0000ff));
  EXPECT_FALSE(c->Contains(0x0b000000));
  auto host = Cidr::Parse("192.168.1.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->bits, 32);
}

TEST(Egress, TheClientRefusesBeforeConnecting) {
  EgressPolicy p;
  http::Request req;
  auto r = http::Fetch("127.0.0.1", 1, req, std::chrono::seconds(1), nullptr, &p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden) << r.error().message;
}

}  // namespace
}  // namespace strake
