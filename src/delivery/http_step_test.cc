#include "delivery/http_step.h"

#include <gtest/gtest.h>

#include "base/canned_server.h"
#include "base/fs.h"

namespace strake::delivery {
namespace {

using strake::testing::CannedServer;

std::string Answer(int status, const std::string& type, const std::string& body,
                   const std::string& more = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type + "\r\n" + more +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

class HttpStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddHttpStep(steps_, *EgressPolicy::Parse("loopback"));
    auto dir = MakeTempDir("http-step");
    ASSERT_TRUE(dir);
    dir_ = *dir;
  }
  void TearDown() override { (void)RemoveAll(dir_); }
  StepOutcome Run(const Json& config) {
    StepContext ctx;
    ctx.project = "demo";
    ctx.work_dir = dir_;
    ctx.config = config;
    return steps_.Find("http")->Run(ctx);
  }
  StepRegistry steps_;
  std::string dir_;
};

TEST_F(HttpStepTest, SendsTheRequestAndTakesOutputsFromTheResponse) {
  CannedServer server([](const std::string& head) {
    EXPECT_TRUE(head.starts_with("POST /hook?x=1&stage=prod%20eu HTTP/1.1")) << head;
    EXPECT_NE(head.find("X-Token: abc"), std::string::npos) << head;
    return Answer(200, "application/json", R"({"facts": [{"fact": "cats"}], "ok": true})",
                  "X-Run: 42\r\n");
  });
  StepOutcome out = Run({{"method", "post"},
                         {"url", server.url("/hook?x=1")},
                         {"queryParams", {{{"name", "stage"}, {"value", "prod eu"}}}},
                         {"headers", {{{"name", "X-Token"}, {"value", "abc"}}}},
                         {"body", R"({"text": "hi"})"},
                         {"outputs",
                          {{{"name", "status"}, {"fromExpression", "response.status"}},
                           {{"name", "fact"}, {"fromExpression", "response.body.facts[0].fact"}},
                           {{"name", "run"}, {"fromExpression", "header('x-run')"}},
                           {{"name", "again"}, {"fromExpression", "response.header('X-Run')"}}}}});
  ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
  EXPECT_EQ(out.output, (Json{{"status", 200}, {"fact", "cats"}, {"run", "42"}, {"again", "42"}}));
}

TEST_F(HttpStepTest, TheExpressionsDecideAsKargosDo) {
  std::string state = "pending";
  CannedServer server([&](const std::string&) {
    return Answer(200, "application/json",
                  R"({"status": ")" + state + R"(", "reason": "disk full"})");
  });
  Json cfg = {{"url", server.url("/status")},
              {"successExpression", "response.body.status == 'completed'"},
              {"failureExpression", "response.body.status == 'failed'"},
              {"errorExpression", "response.body.reason"},
              {"pollInterval", "1s"}};
  StepOutcome waiting = Run(cfg);
  EXPECT_EQ(waiting.attempt.status, StepStatus::kRunning);
  EXPECT_EQ(waiting.retry_after, Millis(10'000));  // Kargo's lower bound
  state = "completed";
  EXPECT_EQ(Run(cfg).attempt.status, StepStatus::kSucceeded);
  state = "failed";
  StepOutcome failed = Run(cfg);
  EXPECT_EQ(failed.attempt.status, StepStatus::kFailed);
  EXPECT_TRUE(failed.attempt.terminal);
  EXPECT_EQ(failed.attempt.error, "HTTP (200) response met failure criteria: \"disk full\"");
}

TEST_F(HttpStepTest, Non2xxIsRetriedAndBadConfigNamesTheField) {
  CannedServer server([](const std::string&) { return Answer(503, "text/plain", "busy"); });
  StepOutcome busy = Run({{"url", server.url("/")}});
  EXPECT_EQ(busy.attempt.status, StepStatus::kFailed);
  EXPECT_FALSE(busy.attempt.terminal);
  EXPECT_NE(busy.attempt.error.find("HTTP (503)"), std::string::npos) << busy.attempt.error;
  StepOutcome typo = Run({{"url", server.url("/")}, {"sucessExpression", "true"}});
  EXPECT_TRUE(typo.attempt.terminal);
  EXPECT_NE(typo.attempt.error.find("config.sucessExpression: unknown field"), std::string::npos)
      << typo.attempt.error;
  StepOutcome proxy = Run({{"url", server.url("/")}, {"proxy", "http://127.0.0.1:1"}});
  EXPECT_NE(proxy.attempt.error.find("config.proxy: not supported yet"), std::string::npos)
      << proxy.attempt.error;
  StepOutcome both = Run({{"url", server.url("/")}, {"body", "x"}, {"bodyFromFile", "b.json"}});
  EXPECT_NE(both.attempt.error.find("mutually exclusive"), std::string::npos);
  StepOutcome escape = Run({{"url", server.url("/")}, {"bodyFromFile", "../../etc/passwd"}});
  EXPECT_TRUE(escape.attempt.terminal);
  EXPECT_NE(escape.attempt.error.find("config.bodyFromFile"), std::string::npos)
      << escape.attempt.error;
}

TEST_F(HttpStepTest, TheEgressPolicyAndRedirectsToOtherHostsStopIt) {
  CannedServer other([](const std::string&) { return Answer(200, "text/plain", "secret"); });
  std::string to = other.url("/x");
  CannedServer origin([&](const std::string&) {
    return "HTTP/1.1 302 Found\r\nLocation: " + to.replace(7, 9, "localhost") +
           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  });
  StepOutcome moved = Run({{"url", origin.url("/")}});
  EXPECT_EQ(moved.attempt.status, StepStatus::kFailed);  // the 302 itself: not 2xx
  EXPECT_TRUE(other.heads.empty());

  StepRegistry closed;
  AddHttpStep(closed, EgressPolicy());
  StepContext ctx;
  ctx.work_dir = dir_;
  ctx.config = {{"url", origin.url("/")}};
  StepOutcome refused = closed.Find("http")->Run(ctx);
  EXPECT_EQ(refused.attempt.status, StepStatus::kErrored);
  EXPECT_TRUE(refused.attempt.terminal);
  EXPECT_NE(refused.attempt.error.find("loopback"), std::string::npos) << refused.attempt.error;
}

}  // namespace
}  // namespace strake::delivery
