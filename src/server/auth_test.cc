#include "server/auth.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <thread>

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
    gate_ = std::make_unique<Gate>(*tokens_, *audit_, [this](const Request& req) {
      ++api_calls_;
      seen_ = PrincipalOf(req);
      return JsonResponse(api_status_, {{"ok", api_status_ < 300}, {"message", api_message_}});
    });
    auto first = tokens_->Bootstrap();
    ASSERT_TRUE(first && *first);
    admin_ = (*first)->token;
    ASSERT_TRUE(tokens_->Shown((*first)->id));
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
  int api_status_ = 200;           // what the API behind the gate answers
  std::string api_message_;        // and says
  std::optional<Principal> seen_;  // who the API was told asked
};

std::vector<std::string> Targets(AuditLog& log, const std::string& action) {
  std::vector<std::string> out;
  auto entries = log.Read(0, 1000);
  EXPECT_TRUE(entries);
  for (const auto& e : entries.value_or(std::vector<store::Json>{})) {
    if (e.value("action", "") == action) out.push_back(e.value("target", ""));
  }
  return out;
}

// "The failed writes each left an entry": a change the API refuses (a
// conflict, an invalid object, a store that cannot write) is not in the log.
// kill -9 between making the first admin token and printing it: the next
// start revokes the one nobody saw and makes another; once one is shown,
// there is no other.
TEST(TokensTest, AFirstTokenNeverShownIsReplacedAtTheNextStart) {
  auto dir = MakeTempDir("tokens");
  ASSERT_TRUE(dir) << dir.error().message;
  SystemClock clock;
  {
    auto st = std::move(*store::OpenSqliteStore(*dir + "/strake.db"));
    Tokens tokens(*st, clock);
    auto lost = tokens.Bootstrap();
    ASSERT_TRUE(lost && *lost);
    auto again = tokens.Bootstrap();  // a restart: the first was never shown
    ASSERT_TRUE(again && *again);
    EXPECT_NE((*again)->token, (*lost)->token);
    EXPECT_FALSE(tokens.Authenticate("Bearer " + (*lost)->token));
    EXPECT_TRUE(tokens.Authenticate("Bearer " + (*again)->token));
    ASSERT_TRUE(tokens.Shown((*again)->id));
    auto third = tokens.Bootstrap();
    ASSERT_TRUE(third);
    EXPECT_FALSE(*third);
    EXPECT_TRUE(tokens.Authenticate("Bearer " + (*again)->token));
  }
  (void)RemoveAll(*dir);
}

TEST_F(GateTest, AChangeThatIsNotMadeHasNoAuditEntry) {
  for (int status : {409, 422, 503}) {
    api_status_ = status;
    EXPECT_EQ(Send("PUT", "/api/v1/namespaces/default/configmaps/refused").status, status);
  }
  api_status_ = 201;
  EXPECT_EQ(Send("PUT", "/api/v1/namespaces/default/configmaps/made").status, 201);
  EXPECT_EQ(api_calls_, 4);
  EXPECT_EQ(Targets(*audit_, "PUT"),
            std::vector<std::string>{"/api/v1/namespaces/default/configmaps/made"});
  EXPECT_TRUE(AuditLog::Verify(audit_->path()).ok);
}

// The path is classified as the API routes it: empty segments, which the
// API skips, cannot take a deployer past an admin's rule; "." and ".."
// segments are refused.
TEST_F(GateTest, APathIsClassifiedAsTheApiRoutesIt) {
  Request make;
  make.method = "POST";
  make.path = "/apis/strake.dev/v1/tokens";
  make.headers = {{"Authorization", "Bearer " + admin_}};
  make.body = R"({"role": "deployer", "namespace": "demo"})";
  Response made = gate_->Handle(make);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string deployer = store::Json::parse(made.body)["token"];
  for (const char* path :
       {"//apis/kargo.akuity.io/v1alpha1/namespaces/demo/projectconfigs/demo",
        "/apis//kargo.akuity.io/v1alpha1/namespaces/demo/projectconfigs/demo",
        "/apis/kargo.akuity.io/v1alpha1/namespaces/demo//projectconfigs/demo/"}) {
    Request req;
    req.method = "PUT";
    req.path = path;
    req.headers = {{"Authorization", "Bearer " + deployer}};
    EXPECT_EQ(gate_->Handle(req).status, 403) << path;
  }
  Request dots;
  dots.method = "GET";
  dots.path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/../other/stages";
  dots.headers = {{"Authorization", "Bearer " + deployer}};
  EXPECT_EQ(gate_->Handle(dots).status, 400);
  EXPECT_EQ(*CanonicalPath("//a//b/"), "/a/b");
  EXPECT_EQ(*CanonicalPath("/"), "/");
}

// A change a policy refused (the API's 403: a promotion window, a freeze, a
// stopped line) is a decision: its entry says so, with the API's reason.
TEST_F(GateTest, AChangeAPolicyRefusedIsRecordedWithItsReason) {
  api_status_ = 403;
  api_message_ = "promotion p: line stopped by ProjectConfig demo: INC-1";
  const std::string path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/promotions";
  EXPECT_EQ(Send("POST", path).status, 403);
  auto entries = audit_->Read(0, 10);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].value("target", ""), path);
  EXPECT_EQ((*entries)[0].value("detail", ""),
            "refused: promotion p: line stopped by ProjectConfig demo: INC-1");
  EXPECT_TRUE(AuditLog::Verify(audit_->path()).ok);
}

// A token made for a user with claims speaks for that user; the API learns
// who asked from the Gate alone (a client's own header is dropped).
TEST_F(GateTest, TheApiIsToldWhoAskedAndCannotBeToldOtherwise) {
  Request make;
  make.method = "POST";
  make.path = "/apis/strake.dev/v1/tokens";
  make.headers = {{"Authorization", "Bearer " + admin_}};
  make.body = R"({"role": "deployer", "user": "alice", "claims": {"groups": ["leads"]}})";
  Response made = gate_->Handle(make);
  ASSERT_EQ(made.status, 201) << made.body;
  std::string alice = store::Json::parse(made.body)["token"];
  Request req;
  req.method = "GET";
  req.path = "/api/v1/namespaces/default/configmaps";
  req.headers = {{"Authorization", "Bearer " + alice},
                 {"x-strake-principal", R"({"role": "admin", "user": "root"})"}};
  ASSERT_EQ(gate_->Handle(req).status, 200);
  ASSERT_TRUE(seen_);
  EXPECT_EQ(seen_->Identity(), "alice");
  EXPECT_EQ(seen_->role, Role::kDeployer);
  EXPECT_EQ(seen_->claims.dump(), R"({"groups":["leads"]})");
  // Without a user, the token is the identity.
  Send("GET", "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(seen_->Identity().rfind("token:", 0), 0u);
  // A public path is not told anyone, whatever the client says.
  req.path = "/healthz";
  req.headers = {{"X-Strake-Principal", R"({"role": "admin", "user": "root"})"}};
  gate_->Handle(req);
  EXPECT_FALSE(seen_);
  for (const char* bad : {R"({"role": "viewer", "claims": {"g": 1}})",
                          R"({"role": "viewer", "user": "token:abc"})"}) {
    make.body = bad;
    EXPECT_EQ(gate_->Handle(make).status, 422) << bad;
  }
}

TEST_F(GateTest, ADryRunIsNoChangeAndHasNoAuditEntry) {
  Request req;
  req.method = "PATCH";
  req.path = "/api/v1/namespaces/default/configmaps/x";
  req.query["dryRun"] = "All";
  req.headers = {{"Authorization", "Bearer " + admin_}};
  req.body = "{}";
  EXPECT_EQ(gate_->Handle(req).status, 200);
  EXPECT_EQ(api_calls_, 1);
  EXPECT_TRUE(Targets(*audit_, "PATCH").empty());
  EXPECT_EQ(Send("PATCH", "/api/v1/namespaces/default/configmaps/x").status, 200);
  EXPECT_EQ(Targets(*audit_, "PATCH"),
            std::vector<std::string>{"/api/v1/namespaces/default/configmaps/x"});
}

TEST_F(GateTest, AChangeWhoseAuditEntryCannotBeWrittenIsNotMade) {
  EXPECT_EQ(Send("PUT", "/api/v1/namespaces/default/configmaps/x").status, 200);
  EXPECT_EQ(api_calls_, 1);
  // The log's disk is full from now on.
  int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  std::string log = std::filesystem::canonical(dir_ + "/audit.log");
  std::string intents = std::filesystem::canonical(dir_ + "/audit.log.intents");
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto link = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && (link == log || link == intents))
      ::dup2(full, std::atoi(e.path().filename().c_str()));
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
  // The Namespace object itself is cluster-scoped: a token of namespace
  // "team" cannot change (or delete) it.
  EXPECT_EQ(NamespaceOf("/api/v1/namespaces/team"), "");
  EXPECT_EQ(NamespaceOf("/api/v1/namespaces/team/"), "");
  EXPECT_EQ(NamespaceOf("/api/v1/namespaces/team/pods"), "team");
  Principal viewer{"id", Role::kViewer, "", "", store::Json::object()};
  Principal team{"id", Role::kDeployer, "team", "", store::Json::object()};
  EXPECT_TRUE(Allows(viewer, Need::kRead, "x", "/p"));
  EXPECT_FALSE(Allows(viewer, Need::kWrite, "x", "/p"));
  EXPECT_TRUE(Allows(team, Need::kWrite, "team", "/p"));
  EXPECT_FALSE(Allows(team, Need::kWrite, "other", "/p"));
  EXPECT_FALSE(Allows(team, Need::kRead, "", "/apis/argoproj.io/v1alpha1/rollouts"));
  EXPECT_TRUE(Allows(team, Need::kRead, "", "/apis/strake.dev/v1/events"));
  // DORA: a namespace's metrics to its tokens, every namespace's to none of them.
  const std::string team_dora = "/apis/strake.dev/v1/namespaces/team/dora/metrics";
  const std::string other_dora = "/apis/strake.dev/v1/namespaces/other/dora/metrics";
  const std::string all_dora = "/apis/strake.dev/v1/dora/metrics";
  EXPECT_TRUE(Allows(team, Need::kRead, NamespaceOf(team_dora), team_dora));
  EXPECT_FALSE(Allows(team, Need::kRead, NamespaceOf(other_dora), other_dora));
  EXPECT_FALSE(Allows(team, Need::kRead, NamespaceOf(all_dora), all_dora));
  EXPECT_TRUE(Allows(viewer, Need::kRead, NamespaceOf(all_dora), all_dora));
  // An alerting tool's webhook writes incidents: a write to its namespace.
  const std::string hook = "/apis/strake.dev/v1/namespaces/team/dora/incidents";
  const std::string other_hook = "/apis/strake.dev/v1/namespaces/other/dora/incidents";
  EXPECT_EQ(Classify(MakeRequest("POST", hook)), Need::kWrite);
  EXPECT_TRUE(Allows(team, Need::kWrite, NamespaceOf(hook), hook));
  EXPECT_FALSE(Allows(team, Need::kWrite, NamespaceOf(other_hook), other_hook));
  EXPECT_FALSE(Allows(viewer, Need::kWrite, NamespaceOf(hook), hook));
  EXPECT_FALSE(Allows(team, Need::kAdmin, "team", "/p"));
  EXPECT_EQ(ParseRole("deployer"), Role::kDeployer);
  EXPECT_FALSE(ParseRole("root"));
  // Answering an approval step: any token reaches it (the step's rules decide).
  Request respond =
      MakeRequest("POST", "/apis/kargo.akuity.io/v1alpha1/namespaces/team/promotions/p/approve");
  EXPECT_EQ(Classify(respond), Need::kRead);
  respond.path = "/apis/kargo.akuity.io/v1alpha1/namespaces/team/promotions/p";
  EXPECT_EQ(Classify(respond), Need::kWrite);
  // A Project's policies (windows) are its admins' to change.
  Request policy =
      MakeRequest("PUT", "/apis/kargo.akuity.io/v1alpha1/namespaces/team/projectconfigs/team");
  EXPECT_EQ(Classify(policy), Need::kAdmin);
  policy.method = "GET";
  EXPECT_EQ(Classify(policy), Need::kRead);
  // And the server's (its windows, freezes and stopped line) an admin's, and
  // a Project's labels (a ClusterConfig's projectSelector reads them).
  Request cluster = MakeRequest("PATCH", "/apis/kargo.akuity.io/v1alpha1/clusterconfigs/cluster");
  EXPECT_EQ(Classify(cluster), Need::kAdmin);
  Request project = MakeRequest("PUT", "/apis/kargo.akuity.io/v1alpha1/projects/team");
  EXPECT_EQ(Classify(project), Need::kAdmin);
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

std::string AuditDir(const std::string& name) {
  const char* tmp = std::getenv("STRAKE_TEST_TMP");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name + "-" + std::to_string(::getpid());
  (void)RemoveAll(dir);
  EXPECT_TRUE(MakeDirs(dir));
  return dir;
}

// kill -9 between a change and its entry: the intent written before the
// change is found at the next start and recorded as interrupted; a change
// whose entry was written is not recorded twice.
TEST(AuditTest, AChangeACrashInterruptedIsRecordedOnceAtTheNextStart) {
  std::string dir = AuditDir("audit-crash");
  std::string path = dir + "/audit.log";
  {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log);
    auto interrupted = (*log)->Begin({"a", "PUT", "/interrupted", "d"});
    ASSERT_TRUE(interrupted);
    auto refused = (*log)->Begin({"a", "PUT", "/refused", ""});
    ASSERT_TRUE(refused);
    auto made = (*log)->Begin({"a", "PUT", "/made", ""});
    ASSERT_TRUE(made);
    ASSERT_TRUE((*log)->Finish(*refused, false));
    ASSERT_TRUE((*log)->Finish(*made, true));
  }  // the process dies here, with /interrupted in progress
  {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log) << log.error().message;
    auto entries = (*log)->Read(0, 100);
    ASSERT_TRUE(entries);
    ASSERT_EQ(entries->size(), 2u);
    EXPECT_EQ((*entries)[0].value("target", ""), "/made");
    EXPECT_EQ((*entries)[1].value("target", ""), "/interrupted");
    EXPECT_EQ((*entries)[1].value("detail", ""),
              "d; interrupted: strake stopped while this change was being made; it may not have "
              "been made");
  }
  auto again = AuditLog::Open(path);  // nothing is recorded twice
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->Read(0, 100)->size(), 2u);
  AuditVerdict v = AuditLog::Verify(path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 2);
  (void)RemoveAll(dir);
}

// A change made whose entry cannot be appended (the disk filled meanwhile):
// the entry is owed and written before the next one.
TEST(AuditTest, AnEntryThatFailedAfterItsChangeIsWrittenBeforeTheNext) {
  std::string dir = AuditDir("audit-owed");
  std::string path = dir + "/audit.log";
  auto log = AuditLog::Open(path);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->Append({"a", "PUT", "/x", ""}));
  auto intent = (*log)->Begin({"a", "PUT", "/a-long-target-that-does-not-fit", "detail"});
  ASSERT_TRUE(intent);
  struct rlimit before {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = static_cast<rlim_t>(std::filesystem::file_size(path) + 40);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto failed = (*log)->Finish(*intent, true);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &before), 0);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(failed);
  ASSERT_TRUE((*log)->Append({"a", "PUT", "/y", ""}));
  EXPECT_EQ(Targets(**log, "PUT"),
            (std::vector<std::string>{"/x", "/a-long-target-that-does-not-fit", "/y"}));
  AuditVerdict v = AuditLog::Verify(path);
  EXPECT_TRUE(v.ok) << v.problem;
  (void)RemoveAll(dir);
}

// Changes made at once share their syncs (group commit): the chain stays one
// chain, every change made has one entry, none refused has any, and once all
// are finished no intent is left for the next start to call interrupted.
TEST(AuditTest, ConcurrentChangesKeepOneChainAndLeaveNoIntentBehind) {
  std::string dir = AuditDir("audit-group");
  std::string path = dir + "/audit.log";
  {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log);
    std::vector<std::thread> writers;
    for (int w = 0; w < 8; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < 25; ++i) {
          auto intent = (*log)->Begin({"a", "PUT", fmt::format("/{}/{}", w, i), ""});
          ASSERT_TRUE(intent);
          ASSERT_TRUE((*log)->Finish(*intent, i % 5 != 0));  // one in five refused
        }
      });
    }
    for (auto& t : writers) t.join();
    EXPECT_EQ(std::filesystem::file_size(path + ".intents"), 0u);
  }
  auto again = AuditLog::Open(path);
  ASSERT_TRUE(again);
  AuditVerdict v = AuditLog::Verify(path);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.entries, 8 * 20) << "no entry for a refused change, none interrupted";
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace strake::server
