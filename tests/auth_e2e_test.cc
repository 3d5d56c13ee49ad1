// End-to-end: tokens, roles and the audit chain of a real `strake serve`.
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "base/fs.h"
#include "base/net.h"
#include "base/strings.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

using namespace std::chrono_literals;

class AuthE2E : public ServerE2E {
 protected:
  http::Response Call(const std::string& token, const std::string& method, const std::string& path,
                      const std::string& body = "") {
    auto url = ParseHttpUrl(server_);
    EXPECT_TRUE(url);
    http::Request req;
    req.method = method;
    req.target = path;
    req.body = body;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    if (method == "PATCH") {
      req.headers.emplace_back("Content-Type", "application/merge-patch+json");
    }
    auto got = http::Fetch(url->host, url->port, req, 10s);
    EXPECT_TRUE(got) << method << " " << path;
    return got ? *got : http::Response{};
  }
  std::string Token(const std::string& role, const std::string& ns = "",
                    const std::string& expires = "") {
    std::vector<std::string> args = {"token", "create", "--role", role};
    if (!ns.empty()) args.insert(args.end(), {"--namespace", ns});
    if (!expires.empty()) args.insert(args.end(), {"--expires", expires});
    Ran r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto at = r.out.find("strk_");
    return at == std::string::npos ? "" : std::string(Trim(r.out.substr(at)));
  }
};

const char* kConfigMap = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})";

TEST_F(AuthE2E, EveryRoleAgainstEveryEndpoint) {
  StartServer();
  std::string viewer = Token("viewer"), deployer = Token("deployer"),
              team = Token("deployer", "team");
  struct Endpoint {
    const char* method;
    std::string path;
    std::string body;
    enum { kPublic, kRead, kWrite, kAdmin } need;
  };
  const std::string core = "/api/v1/namespaces/default/configmaps";
  const std::string argo = "/apis/argoproj.io/v1alpha1/namespaces/default";
  const std::vector<Endpoint> endpoints = {
      {"GET", "/healthz", "", Endpoint::kPublic},
      {"GET", "/metrics", "", Endpoint::kPublic},
      {"GET", core, "", Endpoint::kRead},
      {"GET", core + "/x", "", Endpoint::kRead},
      {"GET", "/apis/argoproj.io/v1alpha1/rollouts", "", Endpoint::kRead},
      {"GET", argo + "/rollouts/r/logs", "", Endpoint::kRead},
      {"GET", argo + "/applications/a/diff", "", Endpoint::kRead},
      {"GET", "/apis/strake.dev/v1/events", "", Endpoint::kRead},
      {"GET", "/api/v1/namespaces/team/configmaps", "", Endpoint::kRead},
      {"PUT", core + "/x", kConfigMap, Endpoint::kWrite},
      {"POST", core, kConfigMap, Endpoint::kWrite},
      {"PATCH", core + "/x", "{}", Endpoint::kWrite},
      {"DELETE", core + "/x", "", Endpoint::kWrite},
      {"PUT", "/api/v1/namespaces/team/configmaps/x",
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})", Endpoint::kWrite},
      {"POST", argo + "/rollouts/r/promote", "{}", Endpoint::kWrite},
      {"POST", argo + "/rollouts/r/abort", "{}", Endpoint::kWrite},
      {"POST", argo + "/applications/a/sync", "{}", Endpoint::kWrite},
      {"POST", argo + "/applications/a/rollback", R"({"id":0})", Endpoint::kWrite},
      {"GET", "/apis/strake.dev/v1/tokens", "", Endpoint::kAdmin},
      {"POST", "/apis/strake.dev/v1/tokens", R"({"role":"viewer"})", Endpoint::kAdmin},
      {"DELETE", "/apis/strake.dev/v1/tokens/0000000000000000", "", Endpoint::kAdmin},
      {"GET", "/apis/strake.dev/v1/audit", "", Endpoint::kAdmin},
      {"GET", "/apis/strake.dev/v1/audit/verify", "", Endpoint::kAdmin},
  };
  struct Who {
    std::string name, token;
    int level;       // 0 none, 1 viewer, 2 deployer, 3 admin
    std::string ns;  // scope
  };
  const std::vector<Who> people = {
      {"nobody", "", 0, ""},         {"viewer", viewer, 1, ""},
      {"deployer", deployer, 2, ""}, {"team deployer", team, 2, "team"},
      {"admin", token_, 3, ""},      {"forged", "strk_0123456789abcdef_notthesecret", 0, ""}};
  for (const auto& e : endpoints) {
    for (const auto& p : people) {
      auto r = Call(p.token, e.method, e.path, e.body);
      std::string what = fmt::format("{} {} {} -> {} {}", p.name, e.method, e.path, r.status,
                                     r.body.substr(0, 160));
      if (e.need == Endpoint::kPublic) {
        EXPECT_EQ(r.status, 200) << what;
        continue;
      }
      if (p.level == 0) {
        EXPECT_EQ(r.status, 401) << what;
        continue;
      }
      int need = e.need == Endpoint::kRead ? 1 : e.need == Endpoint::kWrite ? 2 : 3;
      bool in_scope = p.ns.empty() ||
                      e.path.find("/namespaces/" + p.ns + "/") != std::string::npos ||
                      e.path == "/apis/strake.dev/v1/events";
      bool allowed = p.level >= need && in_scope;
      if (allowed) {
        EXPECT_NE(r.status, 401) << what;
        EXPECT_NE(r.status, 403) << what;
      } else {
        EXPECT_EQ(r.status, 403) << what;
      }
    }
  }
  // Every denial is in the audit log, with who tried.
  Ran log = Cli({"audit", "log", "--limit", "1000"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_NE(log.out.find("denied"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("(viewer)"), std::string::npos) << log.out;
}

TEST_F(AuthE2E, TokensExpireAreRevokedAndAreStoredOnlyAsHashes) {
  StartServer();
  // Long enough to be used once even on a loaded machine under ASan (the
  // CLI that makes it takes a while to start), short enough to wait out.
  std::string brief = Token("viewer", "", "3s");
  auto made = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(brief, "GET", "/api/v1/namespaces/default/configmaps").status, 200);
  std::string kept = Token("deployer");
  std::this_thread::sleep_until(made + 3200ms);
  auto expired = Call(brief, "GET", "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("invalid, expired or revoked token"), std::string::npos);
  Ran list = Cli({"token", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::string id = kept.substr(5, 16);
  EXPECT_NE(list.out.find(id), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(kept.substr(22)), std::string::npos) << "a secret was listed";
  ASSERT_EQ(Cli({"token", "revoke", id}).exit_code, 0);
  EXPECT_EQ(Call(kept, "GET", "/api/v1/namespaces/default/configmaps").status, 401);
  // No secret of any token is anywhere in the data directory.
  for (const auto& f : ListFilesRecursive(data_).value_or(std::vector<std::string>{})) {
    auto text = ReadFile(data_ + "/" + f, 64 << 20).value_or("");
    EXPECT_EQ(text.find(kept.substr(22)), std::string::npos) << f;
    EXPECT_EQ(text.find(token_.substr(22)), std::string::npos) << f;
  }
}

TEST_F(AuthE2E, TheAuditChainFindsAnEditedRemovedOrReorderedEntry) {
  StartServer();
  for (const char* v : {"1", "2", "3"}) {
    Ran r = Cli({"apply", "-f",
                 File("cm.yaml", fmt::format("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: "
                                             "c}}\ndata: {{v: \"{}\"}}\n",
                                             v))});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  Ran ok = Cli({"audit", "verify"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("intact"), std::string::npos) << ok.out;
  Ran log = Cli({"audit", "log"});
  EXPECT_NE(log.out.find("PATCH"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("/api/v1/namespaces/default/configmaps/c"), std::string::npos);

  std::string path = data_ + "/audit.log";
  std::string original = ReadFile(path).value_or("");
  auto lines = Split(original, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  ASSERT_GE(lines.size(), 4u);
  auto write = [&](const std::vector<std::string>& ls) {
    ASSERT_TRUE(WriteFile(path, Join(ls, "\n") + "\n", 0600));
  };
  auto verdict = [&] { return Cli({"audit", "verify"}); };

  std::vector<std::string> edited = lines;
  ReplaceAll(edited[2], "PATCH", "PUT");
  write(edited);
  Ran r = verdict();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("line 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("edited"), std::string::npos) << r.out;

  std::vector<std::string> removed = lines;
  removed.erase(removed.begin() + 1);
  write(removed);
  r = verdict();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("removed, inserted or reordered"), std::string::npos) << r.out;

  std::vector<std::string> swapped = lines;
  std::swap(swapped[1], swapped[2]);
  write(swapped);
  r = verdict();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("removed, inserted or reordered"), std::string::npos) << r.out;

  write(lines);
  EXPECT_EQ(verdict().exit_code, 0);
}

TEST_F(AuthE2E, ServesHttpsWithTheGivenCertificate) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=strake -keyout " +
                    dir_ + "/tls.key -out " + dir_ +
                    "/tls.crt -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // Both or neither.
  Ran half = Strake({"serve", "--listen", "127.0.0.1:0", "--tls-cert", dir_ + "/tls.crt"});
  EXPECT_NE(half.exit_code, 0);
  EXPECT_NE(half.err.find("give both --tls-cert and --tls-key"), std::string::npos) << half.err;

  serve_args_ = {"--tls-cert", dir_ + "/tls.crt", "--tls-key", dir_ + "/tls.key"};
  StartServer();
  ASSERT_TRUE(StartsWith(server_, "https://127.0.0.1:")) << server_;
  // The CLI trusts the certificate it is given.
  cli_env_ = {"STRAKE_CA_CERT=" + dir_ + "/tls.crt"};
  Ran r = Cli({"apply", "-f",
               File("cm.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
                    "over-tls}\ndata: {a: b}\n")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Cli({"get", "configmap", "over-tls", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"a\": \"b\""), std::string::npos) << r.out;
  // Without it, the certificate is not trusted; nothing is sent.
  cli_env_.clear();
  r = Cli({"get", "configmap", "over-tls"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the server's certificate is not trusted"), std::string::npos) << r.err;
  // Plain HTTP to the HTTPS port gets no answer.
  std::string plain = "http" + server_.substr(5);
  r = Strake({"get", "configmap", "over-tls", "--server", plain}, std::chrono::seconds(60),
             {"STRAKE_TOKEN=" + token_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot reach the strake server"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strake::e2e
