#include "gitops/git.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>

#include "base/fs.h"
#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "gitops/test_repo.h"

namespace strake::gitops {
namespace {

auto All = [](const std::string&) { return true; };

TEST_F(GitTest, FetchesAndResolvesBranchesTagsShasAndHead) {
  Write("app/a.yaml", "a: 1\n");
  std::string first = Commit("first");
  Sh("git -C " + work_ + " tag v1");
  Sh("git -C " + work_ + " push -q origin v1");
  Write("app/a.yaml", "a: 2\n");
  std::string second = Commit("second: a is 2");
  Sh("git -C " + work_ + " push -q origin HEAD~1:refs/heads/old");
  auto m = Fetched();
  EXPECT_EQ(m->Resolve("main").value_or(""), second);
  EXPECT_EQ(m->Resolve("HEAD").value_or(""), second);
  EXPECT_EQ(m->Resolve("v1").value_or(""), first);
  EXPECT_EQ(m->Resolve("old").value_or(""), first);
  EXPECT_EQ(m->Resolve(first.substr(0, 10)).value_or(""), first);
  EXPECT_EQ(m->Resolve(first).value_or(""), first);
  auto missing = m->Resolve("nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("revision \"nope\" not found"), std::string::npos);
  EXPECT_FALSE(m->Resolve("--upload-pack=x"));
  EXPECT_FALSE(m->Resolve("main:app/a.yaml"));
  auto info = m->Commit(second);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->author, "Tester");
  EXPECT_EQ(info->message, "second: a is 2");
  auto branches = m->Branches();
  ASSERT_TRUE(branches);
  EXPECT_EQ(branches->size(), 2u);

  // A branch deleted on the remote goes from the mirror at the next fetch.
  Sh("git -C " + work_ + " push -q origin :old");
  ASSERT_TRUE(m->Fetch({}, std::chrono::seconds(30)));
  EXPECT_FALSE(m->Resolve("old"));
  EXPECT_EQ(m->Branches()->size(), 1u);
}

TEST_F(GitTest, ReadsTreesWithoutACheckout) {
  Write("apps/web/deploy.yaml", "kind: Deployment\n");
  Write("apps/web/svc.json", "{}\n");
  Write("apps/web/nested/cm.yaml", "kind: ConfigMap\n");
  Write("apps/web/README.md", "docs\n");
  Write("shared/common.yaml", "kind: Secret\n");
  Sh("ln -s ../../shared/common.yaml " + work_ + "/apps/web/common.yaml");
  std::string sha = Commit("tree");
  auto m = Fetched();
  auto yaml = [](const std::string& p) { return !EndsWith(p, ".md"); };
  auto flat = m->ReadDir(sha, "apps/web", false, yaml);
  ASSERT_TRUE(flat) << flat.error().message;
  std::vector<std::string> names;
  for (const auto& f : *flat) names.push_back(f.path);
  EXPECT_EQ(names, (std::vector<std::string>{"common.yaml", "deploy.yaml", "svc.json"}));
  EXPECT_EQ((*flat)[0].data, "kind: Secret\n");  // the link, followed inside the repository
  auto deep = m->ReadDir(sha, "apps/./web/", true, yaml);
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->size(), 4u);
  EXPECT_EQ((*deep)[2].path, "nested/cm.yaml");
  auto root = m->ReadDir(sha, ".", true, All);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->size(), 6u);
  auto one = m->ReadFileAt(sha, "apps/web/common.yaml");
  ASSERT_TRUE(one && *one);
  EXPECT_EQ(**one, "kind: Secret\n");
  auto none = m->ReadFileAt(sha, "apps/web/nope.yaml");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  auto missing = m->ReadDir(sha, "apps/db", false, All);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("path \"apps/db\" does not exist"), std::string::npos);
  auto file = m->ReadDir(sha, "apps/web/deploy.yaml", false, All);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("is not a directory"), std::string::npos);
  auto escape = m->ReadDir(sha, "apps/../../etc", false, All);
  ASSERT_FALSE(escape);
  EXPECT_NE(escape.error().message.find("leaves the repository"), std::string::npos);
}

TEST_F(GitTest, ChangedPathsBetweenCommits) {
  Write("apps/a/x.yaml", "a: 1\n");
  Write("apps/b/x.yaml", "b: 1\n");
  std::string one = Commit("one");
  Write("apps/a/x.yaml", "a: 2\n");
  Write("apps/c/new.yaml", "c: 1\n");
  Remove("apps/b");
  std::string two = Commit("two");
  auto m = Fetched();
  auto paths = m->ChangedPaths(one, two);
  ASSERT_TRUE(paths && *paths) << (paths ? "" : paths.error().message);
  std::sort((*paths)->begin(), (*paths)->end());
  EXPECT_EQ(**paths,
            (std::vector<std::string>{"apps/a/x.yaml", "apps/b/x.yaml", "apps/c/new.yaml"}));
  auto capped = m->ChangedPaths(one, two, 2);
  ASSERT_TRUE(capped);
  EXPECT_FALSE(*capped);
}

TEST_F(GitTest, BetweenListsWhatAMergeBroughtToo) {
  Write("a", "1");
  std::string one = Commit("one");
  Sh("git -C " + work_ + " checkout -q -b feature");
  Write("b", "1");
  Sh("git -C " + work_ + " add -A");
  Sh("GIT_COMMITTER_DATE='2026-01-02T03:04:05Z' git -C " + work_ + " commit -q -m feature");
  std::string feature = Head();
  Sh("git -C " + work_ + " checkout -q main");
  Write("c", "1");
  std::string two = Commit("two");
  Sh("git -C " + work_ + " merge -q --no-ff -m merge feature");
  Sh("git -C " + work_ + " push -q origin HEAD:main");
  std::string merge = Head();
  auto m = Fetched();
  auto brought = m->Between(one, merge, 100);
  ASSERT_TRUE(brought) << brought.error().message;
  std::vector<std::string> shas;
  for (const auto& c : *brought) shas.push_back(c.sha);
  std::sort(shas.begin(), shas.end());
  std::vector<std::string> want = {feature, two, merge};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(shas, want);
  for (const auto& c : *brought) {
    if (c.sha == feature) {
      EXPECT_EQ(c.time_ms, 1767323045000);  // the committer's date
    }
  }
  auto first = m->Between("", one, 100);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].sha, one);
  EXPECT_EQ(m->Between(merge, merge, 100)->size(), 0u);
  EXPECT_EQ(m->Between(one, merge, 2)->size(), 2u);
  EXPECT_FALSE(m->Between(one, std::string(40, 'f'), 100));
}

TEST_F(GitTest, ChangedPathsFollowGitsOrderAndSeeTypeAndModeChanges) {
  Write("x", "file\n");
  Write("x.y", "same\n");
  Write("d/f", "same\n");
  std::string one = Commit("one");
  Remove("x");
  Write("x/inner", "now a directory\n");
  Sh("chmod +x " + work_ + "/x.y");
  std::string two = Commit("two");
  auto paths = Fetched()->ChangedPaths(one, two);
  ASSERT_TRUE(paths && *paths) << (paths ? "" : paths.error().message);
  std::sort((*paths)->begin(), (*paths)->end());
  EXPECT_EQ(**paths, (std::vector<std::string>{"x", "x.y", "x/inner"}));
}

TEST_F(GitTest, SymlinksOutOfTheRepositoryAreRefused) {
  Write("app/ok.yaml", "a: 1\n");
  Sh("ln -s /etc/passwd " + work_ + "/app/passwd.yaml");
  Sh("ln -s ../../../../etc/hostname " + work_ + "/app/host.yaml");
  std::string sha = Commit("links");
  auto m = Fetched();
  auto abs = m->ReadDir(sha, "app", false, [](const std::string& p) { return p != "host.yaml"; });
  ASSERT_FALSE(abs);
  EXPECT_NE(abs.error().message.find("app/passwd.yaml is a symbolic link to \"/etc/passwd\", "
                                     "outside the repository"),
            std::string::npos)
      << abs.error().message;
  auto rel = m->ReadDir(sha, "app", false, [](const std::string& p) { return p != "passwd.yaml"; });
  ASSERT_FALSE(rel);
  EXPECT_NE(rel.error().message.find("outside the repository"), std::string::npos);
}

// The largest this process has been, in bytes (the peak, so a buffer freed
// before we look is still seen).
size_t PeakResidentBytes() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;
}

// Blobs compress: 128 MiB of zeros is a push of a few hundred KB. Its size
// is read from the object's header, and it is refused before it is inflated.
TEST_F(GitTest, ABlobOverTheLimitIsRefusedBeforeItIsRead) {
  Sh("mkdir -p " + work_ + "/app && truncate -s 128M " + work_ + "/app/zeros.yaml");
  Write("app/ok.yaml", "a: 1\n");
  std::string sha = Commit("zeros");
  auto m = Fetched();
  size_t before = PeakResidentBytes();
  auto file = m->ReadFileAt(sha, "app/zeros.yaml");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(file.error().message, "app/zeros.yaml is 134217728 bytes, over the limit of 8388608");
  auto dir = m->ReadDir(sha, "app", false, All);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "app/zeros.yaml is 134217728 bytes, over the limit of 8388608");
  EXPECT_LT(PeakResidentBytes(), before + (size_t{32} << 20))
      << "reading the blob's size inflated it";
  auto ok = m->ReadFileAt(sha, "app/ok.yaml");
  ASSERT_TRUE(ok && *ok);
  EXPECT_EQ(**ok, "a: 1\n");
}

TEST_F(GitTest, LimitsAreErrors) {
  Write("app/big.yaml", std::string(2000, 'x'));
  Write("app/b.yaml", "b: 1\n");
  Write("app/c.yaml", "c: 1\n");
  std::string sha = Commit("big");
  auto m = Fetched();
  ReadLimits small;
  small.max_file_bytes = 1000;
  auto big = m->ReadDir(sha, "app", false, All, small);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("app/big.yaml is 2000 bytes, over the limit of 1000"),
            std::string::npos)
      << big.error().message;
  ReadLimits few;
  few.max_files = 2;
  EXPECT_FALSE(m->ReadDir(sha, "app", false, All, few));
}

TEST(GitErrorTextTest, CredentialsAreMaskedInEveryFormGitPrintsThem) {
  const std::string pw = "s3cret/pass+word";
  GitCredentials creds{"bob", pw, ""};
  std::string out = GitErrorText("> Authorization: Basic " + Base64Encode("bob:" + pw) +
                                     "\nfatal: https://bob:" + http::UrlEncode(pw) +
                                     "@host/x.git\nfatal: raw " + pw + "\n",
                                 creds);
  for (const std::string& form :
       {std::string("s3cret"), Base64Encode("bob:" + pw), http::UrlEncode(pw)}) {
    EXPECT_EQ(out.find(form), std::string::npos) << form << " in " << out;
  }
  EXPECT_NE(out.find("Authorization: Basic ***"), std::string::npos) << out;
  GitCredentials short_one{"bob", "pw1", ""};  // too short for the masker: still cut raw
  EXPECT_EQ(GitErrorText("fatal: pw1 refused", short_one), "fatal: <redacted> refused");
}

TEST_F(GitTest, AFetchThatFailsSaysWhyWithoutTheCredentials) {
  auto m = Mirror::Open(dir_ + "/mirrors", "http://127.0.0.1:1/nothing.git", EgressPolicy::Open());
  ASSERT_TRUE(m);
  auto st = (*m)->Fetch({"user", "s3cret-pass", ""}, std::chrono::seconds(30));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("fetching http://127.0.0.1:1/nothing.git"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(st.error().message.find("s3cret"), std::string::npos);
  auto gone =
      Mirror::Open(dir_ + "/mirrors", "file://" + dir_ + "/missing.git", EgressPolicy::Open());
  ASSERT_TRUE(gone);
  EXPECT_FALSE((*gone)->Fetch({}, std::chrono::seconds(30)));
}

TEST_F(GitTest, TheEgressPolicyDecidesWhichRemotesAreFetched) {
  EgressPolicy closed;
  auto file = Mirror::Open(dir_ + "/mirrors", "file://" + dir_ + "/any.git", closed);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, ErrorCode::kForbidden);
  EXPECT_NE(file.error().message.find("--egress-allow file"), std::string::npos);
  for (const char* url :
       {"http://127.0.0.1:1/x.git", "https://user:pw@169.254.169.254/x.git",
        "http://2130706433:8080/x.git", "ssh://git@127.0.0.1/x.git", "git@10.1.2.3:org/x.git",
        "gopher://example.com/x", "ext::sh -c touch% /tmp/pwned", "git://example.com/x.git"}) {
    auto m = Mirror::Open(dir_ + "/mirrors", url, closed);
    ASSERT_TRUE(m) << url;
    auto st = (*m)->Fetch({}, std::chrono::seconds(30));
    ASSERT_FALSE(st) << url;
    EXPECT_EQ(st.error().code, ErrorCode::kForbidden) << url << ": " << st.error().message;
    EXPECT_EQ(st.error().message.find("pw@"), std::string::npos) << st.error().message;
  }
}

}  // namespace
}  // namespace strake::gitops
