#include "base/mask.h"

#include <gtest/gtest.h>

#include "base/sha256.h"

namespace strake {
namespace {

constexpr std::string_view kSecret = "s3cr3t-T0ken/with+stuff";

std::string FedByteByByte(SecretMasker& m, std::string_view text) {
  std::string out;
  for (char c : text) out += m.Feed(std::string_view(&c, 1));
  return out + m.Flush();
}

TEST(SecretMasker, MasksRawEvenSplitAcrossWrites) {
  SecretMasker m;
  ASSERT_TRUE(m.Add(kSecret));
  std::string text = "token=" + std::string(kSecret) + " done\n";
  EXPECT_EQ(m.Mask(text), "token=*** done\n");
  EXPECT_EQ(FedByteByByte(m, text), "token=*** done\n");
  SecretMasker m2;
  ASSERT_TRUE(m2.Add(kSecret));
  std::string out = m2.Feed(text.substr(0, 10));
  out += m2.Feed(text.substr(10));
  out += m2.Flush();
  EXPECT_EQ(out, "token=*** done\n");
}

TEST(SecretMasker, MasksBase64AtEveryAlignment) {
  SecretMasker m;
  ASSERT_TRUE(m.Add(kSecret));
  for (std::string prefix : {"", "a", "ab", "abc", "abcd"}) {
    std::string b64 = Base64Encode(prefix + std::string(kSecret) + "tail");
    std::string masked = m.Mask("echo " + b64);
    EXPECT_NE(masked.find("***"), std::string::npos) << prefix << ": " << masked;
    // What is left of the encoding is only the part that depends on the
    // bytes around the secret: a few characters either side.
    EXPECT_LE(masked.size(), std::string("echo ***").size() + 16) << masked;
  }
}

TEST(SecretMasker, MasksUrlEncodedAndEachLineOfAMultiLineSecret) {
  SecretMasker m;
  ASSERT_TRUE(m.Add(kSecret));
  EXPECT_EQ(m.Mask("q=s3cr3t-T0ken%2Fwith%2Bstuff&x"), "q=***&x");
  SecretMasker key;
  ASSERT_TRUE(
      key.Add("-----BEGIN KEY-----\r\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC\n-----END KEY-----"));
  EXPECT_EQ(key.Mask("line: MIIEvQIBADANBgkq\nand hkiG9w0BAQEFAASC"), "line: ***\nand ***");
}

TEST(SecretMasker, ShortSecretsAreNotMaskableAndSaySo) {
  SecretMasker m;
  EXPECT_FALSE(m.Add("a"));
  EXPECT_FALSE(m.Add("1234567"));
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.Mask("a 1234567"), "a 1234567");
  EXPECT_TRUE(m.Add("12345678"));
}

TEST(SecretMasker, TextWithoutSecretsPassesUnchangedInAnyChunking) {
  SecretMasker m;
  ASSERT_TRUE(m.Add(kSecret));
  std::string text = "building s3cr3t-T0ke but not the token\nline two\n";
  EXPECT_EQ(FedByteByByte(m, text), text);
}

}  // namespace
}  // namespace strake
