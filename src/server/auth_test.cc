#include "server/auth.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "base/fs.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("gate");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    store_ = std::move(*store::OpenSqliteStore(dir_ + "/strake.db"));
    tokens_ = std::make_unique<Tokens>(*store_, clock_);
    audit_ = std::move(*AuditLog::Open(dir_ + "/audit.log"));
    gate_ = std::make_unique<Gate>(*tokens_, *audit_, [this](const Request&) {
      ++api_calls_;
      return JsonResponse(200, {{"ok", true}});
    });
    auto first = tokens_->Bootstrap();
    ASSERT_TRUE(first && *first);
    admin_ = (*first)->token;
    EXPECT_FALSE(*tokens_->Bootstrap());  // only once
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  Response Send(const std::string& method, const std::string& path) {
    Request req;
    req.method = method;
    req.path = path;
    req.headers = {{"Authorization", "Bearer " + admin_}};
    req.body = "{}";
    return gate_->Handle(req);
  }

  std::string dir_;
  SystemClock clock_;
  store::StorePtr store_;
  std::unique_ptr<Tokens> tokens_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Gate> gate_;
  std::string admin_;
  int api_calls_ = 0;
};

TEST_F(GateTest, AChangeWhoseAuditEntryCannotBeWrittenIsNotMade) {
  EXPECT_EQ(Send("PUT", "/api/v1/namespaces/default/configmaps/x").status, 200);
  EXPECT_EQ(api_calls_, 1);
  // The log's disk is full from now on.
  int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  std::string target = std::filesystem::canonical(dir_ + "/audit.log");
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto link = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && link == target) ::dup2(full, std::atoi(e.path().filename().c_str()));
  }
  ::close(full);
  auto r = Send("PUT", "/api/v1/namespaces/default/configmaps/x");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("audit entry"), std::string::npos) << r.body;
  EXPECT_EQ(api_calls_, 1);
  // Reads need no entry and still work.
  EXPECT_EQ(Send("GET", "/api/v1/namespaces/default/configmaps").status, 200);
  EXPECT_EQ(api_calls_, 2);
}

TEST(AuthTest, ClassifyAndAllow) {
  Request r;
  r.method = "GET";
  r.path = "/metrics";
  EXPECT_EQ(Classify(r), Need::kPublic);
  r.path = "/apis/strake.dev/v1/audit/verify";
  EXPECT_EQ(Classify(r), Need::kAdmin);
  r.path = "/api/v1/namespaces/a/secrets";
  EXPECT_EQ(Classify(r), Need::kRead);
  r.method = "DELETE";
  EXPECT_EQ(Classify(r), Need::kWrite);
  r.method = "POST";
  r.path = "/webhooks/github";
  EXPECT_EQ(Classify(r), Need::kPublic);
  EXPECT_EQ(NamespaceOf("/api/v1/namespaces/team/configmaps/x"), "team");
  EXPECT_EQ(NamespaceOf("/apis/argoproj.io/v1alpha1/rollouts"), "");
  Principal viewer{"id", Role::kViewer, ""};
  Principal team{"id", Role::kDeployer, "team"};
  EXPECT_TRUE(Allows(viewer, Need::kRead, "x", "/p"));
  EXPECT_FALSE(Allows(viewer, Need::kWrite, "x", "/p"));
  EXPECT_TRUE(Allows(team, Need::kWrite, "team", "/p"));
  EXPECT_FALSE(Allows(team, Need::kWrite, "other", "/p"));
  EXPECT_FALSE(Allows(team, Need::kRead, "", "/apis/argoproj.io/v1alpha1/rollouts"));
  EXPECT_TRUE(Allows(team, Need::kRead, "", "/apis/strake.dev/v1/events"));
  EXPECT_FALSE(Allows(team, Need::kAdmin, "team", "/p"));
  EXPECT_EQ(ParseRole("deployer"), Role::kDeployer);
  EXPECT_FALSE(ParseRole("root"));
}

TEST(AuditTest, AHalfWrittenLastLineIsCutAndTheChainGoesOn) {
  const char* tmp = std::getenv("STRAKE_TEST_TMP");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/audit-torn";
  (void)RemoveAll(dir);
  ASSERT_TRUE(MakeDirs(dir));
  std::string path = dir + "/audit.log";
  {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log);
    ASSERT_TRUE((*log)->Append({"a", "PUT", "/x", ""}));
    ASSERT_TRUE((*log)->Append({"a", "PUT", "/y", ""}));
  }
  auto text = ReadFile(path);
  ASSERT_TRUE(WriteFile(path, *text + R"({"seq":3,"actor":"a","act)"));  // a crash mid-write
  auto log = AuditLog::Open(path);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->Append({"a", "DELETE", "/z", ""}));
  AuditVerdict v = AuditLog::Verify(path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 3);
  (void)RemoveAll(dir);
}

// A full disk in the middle of an append: the half entry is cut back, the
// chain still verifies, and the next append (space again) goes on from it.
TEST(AuditTest, AnAppendThatFailsPartWayLeavesNoHalfEntry) {
  const char* tmp = std::getenv("STRAKE_TEST_TMP");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/audit-full";
  (void)RemoveAll(dir);
  ASSERT_TRUE(MakeDirs(dir));
  std::string path = dir + "/audit.log";
  auto log = AuditLog::Open(path);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->Append({"a", "PUT", "/x", ""}));
  auto size = std::filesystem::file_size(path);
  // The file may grow by 40 bytes more: the next entry does not fit.
  struct rlimit before {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = static_cast<rlim_t>(size + 40);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto failed = (*log)->Append({"a", "PUT", "/a-long-target-that-does-not-fit", "detail"});
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &before), 0);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(std::filesystem::file_size(path), size) << "the half entry was cut back";
  ASSERT_TRUE((*log)->Append({"a", "PUT", "/y", ""}));
  AuditVerdict v = AuditLog::Verify(path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 2);
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace strake::server
