#include "base/curl.h"

#include <gtest/gtest.h>

#include <map>

#include "base/canned_server.h"

namespace strake::curl {
namespace {

using testing::CannedServer;

std::string Ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nDocker-Content-Digest: sha256:abc\r\nConnection: close\r\n\r\n" + body;
}

EgressPolicy Loopback() { return *EgressPolicy::Parse("loopback"); }

Request Get(std::string url, std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request r;
  r.url = std::move(url);
  r.headers = std::move(headers);
  return r;
}

TEST(Curl, GetsABodyAndItsHeaders) {
  CannedServer server([](const std::string&) { return Ok("hello"); });
  auto r = Send(Get(server.url("/v2/"), {{"Accept", "text/plain"}}), Loopback());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->HeaderValue("docker-content-digest"), "sha256:abc");
  EXPECT_NE(server.heads.at(0).find("Accept: text/plain"), std::string::npos);
}

TEST(Curl, TheEgressPolicyRefusesTheConnectItself) {
  CannedServer server([](const std::string&) { return Ok("secret"); });
  auto r = Send(Get(server.url("/latest/meta-data")), EgressPolicy());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
  EXPECT_TRUE(server.heads.empty());
}

TEST(Curl, ABodyOverTheCapFailsTheCall) {
  CannedServer server([](const std::string&) { return Ok(std::string(5000, 'x')); });
  Request req = Get(server.url("/"));
  req.max_body = 4096;
  auto r = Send(req, Loopback());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("longer than 4096 bytes"), std::string::npos)
      << r.error().message;
}

TEST(Curl, RedirectsAreFollowedOnlyWhenAskedAndNeverCarryAuthorizationAway) {
  CannedServer target([](const std::string&) { return Ok("blob"); });
  std::string to = target.url("/blob");
  CannedServer origin([&](const std::string&) {
    return "HTTP/1.1 307 Temporary Redirect\r\nLocation: " + to +
           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  });
  Request req = Get(origin.url("/v2/x/blobs/sha256:1"), {{"Authorization", "Bearer t0ken"}});
  auto once = Send(req, Loopback());
  ASSERT_TRUE(once) << once.error().message;
  EXPECT_EQ(once->status, 307);
  EXPECT_TRUE(target.heads.empty());

  req.max_redirects = 3;
  auto followed = Send(req, Loopback());
  ASSERT_TRUE(followed) << followed.error().message;
  EXPECT_EQ(followed->body, "blob");
  ASSERT_EQ(target.heads.size(), 1u);
  EXPECT_EQ(target.heads[0].find("t0ken"), std::string::npos) << target.heads[0];
  EXPECT_NE(origin.heads.back().find("Bearer t0ken"), std::string::npos);
}

TEST(Curl, AHeaderCannotSmuggleAnotherHeaderOrRequest) {
  CannedServer server([](const std::string&) { return Ok("x"); });
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"X-A", "1\r\nTransfer-Encoding: chunked"},
                                                        {"X-B", "a\nb"},
                                                        {"Bad Name", "v"},
                                                        {"X:C", "v"},
                                                        {"", "v"}}) {
    auto r = Send(Get(server.url("/"), {{k, v}}), Loopback());
    EXPECT_FALSE(r) << k;
  }
  EXPECT_TRUE(server.heads.empty());
  auto empty = Send(Get(server.url("/"), {{"X-Empty", ""}}), Loopback());
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_NE(server.heads.at(0).find("X-Empty:"), std::string::npos) << server.heads[0];
}

TEST(Curl, OnlyHttpAndHttpsAndTheErrorHidesCredentials) {
  auto r = Send(Get("file:///etc/passwd"), EgressPolicy::Open());
  ASSERT_FALSE(r);
  r = Send(Get("http://bob:hunter2@127.0.0.1:1/x"), Loopback());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << r.error().message;
}

std::map<std::string, std::string>* fake_env = nullptr;
std::optional<std::string> FakeEnv(const char* name) {
  auto it = fake_env->find(name);
  if (it == fake_env->end()) return std::nullopt;
  return it->second;
}

TEST(Curl, ProxyForReadsTheVariablesAsCurlDoes) {
  std::map<std::string, std::string> env{{"HTTPS_PROXY", "http://proxy:3128"},
                                         {"HTTP_PROXY", "http://evil:1"},
                                         {"NO_PROXY", "internal.example, .corp,10.1.2.3"}};
  fake_env = &env;
  EXPECT_EQ(ProxyFor("https://ghcr.io/v2/", FakeEnv), "http://proxy:3128");
  EXPECT_EQ(ProxyFor("http://ghcr.io/v2/", FakeEnv), "");  // HTTP_PROXY: httpoxy
  EXPECT_EQ(ProxyFor("https://internal.example/v2/", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://reg.internal.example/v2/", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://a.corp/v2/", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://corp/v2/", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://xcorp/v2/", FakeEnv), "http://proxy:3128");
  EXPECT_EQ(ProxyFor("https://10.1.2.3:5000/v2/", FakeEnv), "");
  env = {{"all_proxy", "socks5://p:1080"}, {"no_proxy", "*"}};
  EXPECT_EQ(ProxyFor("https://ghcr.io/", FakeEnv), "");
  env.erase("no_proxy");
  EXPECT_EQ(ProxyFor("http://ghcr.io/", FakeEnv), "socks5://p:1080");
  // This machine itself: never through the proxy.
  EXPECT_EQ(ProxyFor("http://127.0.0.1:7300/api", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://localhost:5000/v2/", FakeEnv), "");
  EXPECT_EQ(ProxyFor("https://127.corp.example/v2/", FakeEnv), "socks5://p:1080");
  fake_env = nullptr;
}

// A kubelet's httpGet probe: the path as Kubernetes takes it, with or
// without its leading slash.
TEST(Curl, AProbesPathIsAlwaysAnAbsolutePath) {
  EXPECT_EQ(ProbeRequest(8080, "/healthz", {}, std::chrono::seconds(1)).url,
            "http://127.0.0.1:8080/healthz");
  EXPECT_EQ(ProbeRequest(8080, "healthz", {}, std::chrono::seconds(1)).url,
            "http://127.0.0.1:8080/healthz");
  EXPECT_EQ(ProbeRequest(8080, "", {}, std::chrono::seconds(1)).url, "http://127.0.0.1:8080/");
}

}  // namespace
}  // namespace strake::curl
