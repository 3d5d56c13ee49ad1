#include "base/signing.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/fs.h"

namespace strake {
namespace {

TEST(Dsse, PaeIsTheSpecsEncoding) {
  // protocol.md's own example.
  EXPECT_EQ(DssePae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(DssePae("", ""), "DSSEv1 0  0 ");
}

TEST(EcKey, ASignatureVerifiesOnlyForItsDataAndKey) {
  auto key = EcKey::Generate();
  ASSERT_TRUE(key) << key.error().message;
  auto sig = key->Sign("payload");
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_TRUE(key->Verify("payload", *sig));
  auto bad = key->Verify("payloaD", *sig);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);

  auto pub = EcKey::FromPem(key->PublicPem(), "cosign.pub");
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_FALSE(pub->has_private());
  EXPECT_TRUE(pub->Verify("payload", *sig));
  EXPECT_EQ(pub->KeyId(), key->KeyId());
  EXPECT_EQ(pub->KeyId().size(), 64U);
  EXPECT_FALSE(pub->Sign("x"));

  auto other = EcKey::Generate();
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->Verify("payload", *sig));
  EXPECT_NE(other->KeyId(), key->KeyId());
}

TEST(EcKey, APrivateKeyRoundTripsThroughPem) {
  auto key = EcKey::Generate();
  ASSERT_TRUE(key);
  auto pem = key->PrivatePem();
  ASSERT_TRUE(pem) << pem.error().message;
  EXPECT_NE(pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto again = EcKey::FromPem(*pem, "k");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->has_private());
  auto sig = again->Sign("x");
  ASSERT_TRUE(sig);
  EXPECT_TRUE(key->Verify("x", *sig));
}

// Keys made by the openssl tool (SEC 1, PKCS#8 and RSA), and a signature
// of ours checked by `openssl dgst -verify` alone.
TEST(EcKey, InteroperatesWithTheOpensslTool) {
  auto dir = MakeTempDir("signing");
  ASSERT_TRUE(dir);
  auto run = [&](const std::string& cmd) {
    return std::system(("cd " + *dir + " && " + cmd + " >/dev/null 2>&1").c_str());
  };
  ASSERT_EQ(run("openssl ecparam -name prime256v1 -genkey -noout -out sec1.pem"), 0);
  ASSERT_EQ(run("openssl pkcs8 -topk8 -nocrypt -in sec1.pem -out p8.pem"), 0);
  ASSERT_EQ(run("openssl ec -in sec1.pem -pubout -out pub.pem"), 0);
  ASSERT_EQ(run("openssl ecparam -name secp384r1 -genkey -noout -out p384.pem"), 0);
  ASSERT_EQ(run("openssl genrsa -out rsa.pem 2048"), 0);
  for (const char* f : {"sec1.pem", "p8.pem"}) {
    auto pem = ReadFile(*dir + "/" + f);
    ASSERT_TRUE(pem);
    auto key = EcKey::FromPem(*pem, f);
    ASSERT_TRUE(key) << key.error().message;
    auto pub = ReadFile(*dir + "/pub.pem");
    ASSERT_TRUE(pub);
    EXPECT_EQ(key->PublicPem(), *pub);
    std::string pae = DssePae("application/vnd.in-toto+json", "{\"a\":1}");
    auto sig = key->Sign(pae);
    ASSERT_TRUE(sig);
    ASSERT_TRUE(WriteFile(*dir + "/data", pae));
    ASSERT_TRUE(WriteFile(*dir + "/sig", *sig));
    EXPECT_EQ(run("openssl dgst -sha256 -verify pub.pem -signature sig data"), 0) << f;
    ASSERT_TRUE(WriteFile(*dir + "/data", pae + " "));
    EXPECT_NE(run("openssl dgst -sha256 -verify pub.pem -signature sig data"), 0) << f;
  }
  for (const char* f : {"p384.pem", "rsa.pem"}) {
    auto pem = ReadFile(*dir + "/" + f);
    ASSERT_TRUE(pem);
    auto key = EcKey::FromPem(*pem, f);
    ASSERT_FALSE(key) << f;
    EXPECT_NE(key.error().message.find(f), std::string::npos) << key.error().message;
  }
  // An encrypted key is refused at once, never prompted for (SEC 1's
  // Proc-Type, PKCS#8's and cosign's own).
  ASSERT_EQ(run("openssl ec -in sec1.pem -aes256 -passout pass:pw -out enc1.pem"), 0);
  ASSERT_EQ(run("openssl pkcs8 -topk8 -in sec1.pem -passout pass:pw -out enc8.pem"), 0);
  for (const char* f : {"enc1.pem", "enc8.pem"}) {
    auto pem = ReadFile(*dir + "/" + f);
    ASSERT_TRUE(pem);
    auto key = EcKey::FromPem(*pem, f);
    ASSERT_FALSE(key) << f;
    EXPECT_NE(key.error().message.find("encrypted"), std::string::npos) << key.error().message;
  }
  EXPECT_FALSE(EcKey::FromPem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", "cosign.key"));
  EXPECT_FALSE(EcKey::FromPem("not a key", "x"));
  EXPECT_FALSE(EcKey::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "x"));
  (void)RemoveAll(*dir);
}

}  // namespace
}  // namespace strake
