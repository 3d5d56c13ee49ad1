// End-to-end: the CLI's kubectl habits against a real `strake serve`
// (issue 13 §3): -f - and -f DIR, KIND/NAME, several names, -o name, wide
// and jsonpath, -A, get all, delete by name and by file, help, completion,
// token lifetimes in days, and a wrong --server said at once.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

using namespace std::chrono_literals;

std::string ConfigMap(const std::string& name, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {k: " + value +
         "}\n";
}

class CliE2E : public ServerE2E {};

TEST_F(CliE2E, FilesFromStdinAndDirectoriesAndObjectsByKindSlashName) {
  StartServer();
  // -f -: standard input.
  stdin_path_ = File("in.yaml", ConfigMap("a", "from-stdin"));
  Ran r = Cli({"apply", "-f", "-"});
  stdin_path_.clear();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/a created\n");
  // -f DIR: its manifests in name order; -R: its subdirectories' too.
  ASSERT_TRUE(MakeDirs(dir_ + "/m/sub", 0755));
  ASSERT_TRUE(WriteFile(dir_ + "/m/c.yaml", ConfigMap("c", "three")));
  ASSERT_TRUE(WriteFile(dir_ + "/m/b.json",
                        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}})"));
  ASSERT_TRUE(WriteFile(dir_ + "/m/notes.txt", "not a manifest"));
  ASSERT_TRUE(WriteFile(dir_ + "/m/sub/d.yml", ConfigMap("d", "four")));
  r = Cli({"apply", "-f", dir_ + "/m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/b created\nconfigmap/c created\n");
  r = Cli({"apply", "-f", dir_ + "/m", "-R"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/b unchanged\nconfigmap/c unchanged\nconfigmap/d created\n");
  r = Cli({"apply", "-f", dir_ + "/m/sub/..", "-f", dir_ + "/nowhere"});
  EXPECT_NE(r.exit_code, 0);

  // Names, KIND/NAME, -o name and jsonpath.
  r = Cli({"get", "cm", "a", "c", "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/a\nconfigmap/c\n");
  r = Cli({"get", "cm/a", "configmaps/c", "-o", "jsonpath={.items[*].data.k}"});
  EXPECT_EQ(r.out, "from-stdin three");
  r = Cli(
      {"get", "cm", "-o", "jsonpath={range .items[*]}{.metadata.name}={.data.k}{\"\\n\"}{end}"});
  EXPECT_EQ(r.out, "a=from-stdin\nb=\nc=three\nd=four\n");
  r = Cli({"get", "cm", "c", "-o", "jsonpath={.data.k}"});
  EXPECT_EQ(r.out, "three");
  r = Cli({"get", "cm", "-o", "jsn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("(did you mean \"json\"?)"), std::string::npos) << r.err;
  // A missing name among several: the others print, the exit status says so.
  r = Cli({"get", "cm", "a", "gone", "-o", "name"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "configmap/a\n");
  EXPECT_NE(r.err.find("\"gone\" not found"), std::string::npos) << r.err;

  // -A: every namespace, with its column.
  ASSERT_EQ(Cli({"apply", "-n", "team", "-f", File("t.yaml", ConfigMap("t", "x"))}).exit_code, 0);
  r = Cli({"get", "cm", "-A"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(r.out, "NAMESPACE")) << r.out;
  EXPECT_NE(r.out.find("team"), std::string::npos) << r.out;
  EXPECT_EQ(Cli({"get", "cm", "-n", "team", "-o", "name"}).out, "configmap/t\n");
  EXPECT_NE(Cli({"get", "cm", "t", "-A"}).exit_code, 0);

  // delete: KIND/NAME, names, -f; gone is an error unless --ignore-not-found.
  r = Cli({"delete", "cm/a", "configmap/b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/a deleted\nconfigmap/b deleted\n");
  r = Cli({"delete", "-f", dir_ + "/m/sub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "configmap/d deleted\n");
  r = Cli({"delete", "cm", "a"});
  EXPECT_EQ(r.exit_code, 2) << "none could be deleted";
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"delete", "cm", "a", "c"}).exit_code, 1) << "one of two could";
  ASSERT_EQ(Cli({"apply", "-f", File("c2.yaml", ConfigMap("c", "three"))}).exit_code, 0);
  EXPECT_EQ(Cli({"delete", "cm", "a", "--ignore-not-found"}).exit_code, 0);
  EXPECT_EQ(Cli({"get", "cm", "-o", "name"}).out, "configmap/c\n");
  // get all: the kinds that run and route; none here.
  r = Cli({"get", "all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "No resources found in namespace default\n");
}

// get -w: the table, then a row for each object as it changes, lined up
// under the first table's columns (a longer name widens its column for the
// rows after it); a change the watch has seen is not printed again.
TEST_F(CliE2E, GetWatchPrintsEachChangeUnderTheFirstTable) {
  StartServer();
  ASSERT_EQ(Cli({"apply", "-f", File("a.yaml", ConfigMap("a-long-config-map", "one"))}).exit_code,
            0);
  int pid = StartStrake({"get", "cm", "-w", "--server", server_, "--token", token_});
  auto printed = [&] { return ReadFile(dir_ + "/.bg").value_or(""); };
  ASSERT_TRUE(
      WaitFor([&] { return printed().find("a-long-config-map") != std::string::npos; }, 10s))
      << printed();
  ASSERT_EQ(Cli({"apply", "-f", File("b.yaml", ConfigMap("b", "two"))}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return printed().find("\nb ") != std::string::npos; }, 10s))
      << printed();
  ASSERT_EQ(
      Cli({"apply", "-f", File("a2.yaml", ConfigMap("a-long-config-map", "three"))}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Split(printed(), '\n').size() >= 5; }, 10s)) << printed();
  ::kill(pid, SIGTERM);
  ReapWithin(pid, 5s);
  std::vector<std::string> lines = Split(printed(), '\n');
  ASSERT_GE(lines.size(), 4u) << printed();
  EXPECT_TRUE(StartsWith(lines[0], "NAME ")) << printed();
  EXPECT_TRUE(StartsWith(lines[1], "a-long-config-map ")) << printed();
  EXPECT_TRUE(StartsWith(lines[2], "b ")) << printed();
  EXPECT_TRUE(StartsWith(lines[3], "a-long-config-map ")) << printed();
  // Every row's second column starts where the header's does.
  size_t column = lines[0].find_first_not_of(' ', lines[0].find(' '));
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(lines[i].find_first_not_of(' ', lines[i].find(' ')), column) << "row " << i << " of\n"
                                                                           << printed();
  }
}

// kubectl diff: the server merges without writing (?dryRun=All); exit 1
// when something would change.
TEST_F(CliE2E, DiffShowsWhatApplyWouldChangeAndWritesNothing) {
  StartServer();
  ASSERT_EQ(Cli({"apply", "-f", File("c.yaml", ConfigMap("c", "three"))}).exit_code, 0);
  Ran r = Cli({"diff", "-f", File("same.yaml", ConfigMap("c", "three"))});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = Cli({"diff", "-f",
           File("changed.yaml", ConfigMap("c", "four") + "---\n" + ConfigMap("n", "new"))});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("--- live/configmap/c\n+++ merged/configmap/c\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("-  k: three\n+  k: four\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+++ merged/configmap/n\n@@ -0,0 +1,"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("resourceVersion"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("last-applied"), std::string::npos) << r.out;
  // Nothing was written.
  EXPECT_EQ(Cli({"get", "cm", "c", "-o", "jsonpath={.data.k}"}).out, "three");
  EXPECT_NE(Cli({"get", "cm", "n"}).exit_code, 0);
  // A Secret's values never show, but that one changes does.
  const std::string secret =
      "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: ";
  ASSERT_EQ(Cli({"apply", "-f", File("s.yaml", secret + "old-pw}\n")}).exit_code, 0);
  r = Cli({"diff", "-f", File("s2.yaml", secret + "new-pw, user: admin}\n")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("<redacted: changed>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<redacted: added>"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pw"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("admin"), std::string::npos) << r.out;
  EXPECT_EQ(Cli({"diff", "-f", File("s3.yaml", secret + "old-pw}\n")}).exit_code, 0);
}

// Kargo's kinds, one bad input each (the issue's list): refused with the
// file, line and column of the field and its path, and nothing of it is
// stored; a Stage that requests Freight from a Stage that does not exist is
// taken and says so in its status.
TEST_F(CliE2E, KargoBadInputIsRefusedAtItsLineAndNothingIsStored) {
  StartServer();
  ASSERT_EQ(Cli({"apply", "-f",
                 File("p.yaml",
                      "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: "
                      "bad}\n")})
                .exit_code,
            0);
  auto stage = [](const std::string& name, const std::string& sources, const std::string& step) {
    return "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {name: " + name +
           ", namespace: bad}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: "
           "w}\n    sources: " +
           sources + "\n  promotionTemplate:\n    spec:\n      steps:\n      - " + step + "\n";
  };
  struct Case {
    std::string file, text, place, message;
  };
  const std::vector<Case> cases = {
      {"step.yaml", stage("s1", "{direct: true}", "uses: git-clonee"), "step.yaml:11:15: ",
       "stage s1: spec.promotionTemplate.spec.steps[0].uses: not supported yet: step "
       "\"git-clonee\""},
      {"expr.yaml",
       stage("s2", "{direct: true}", "uses: fail\n        config: {message: \"${{ 1 + }}\"}"),
       "expr.yaml:12:27: ", "stage s2: spec.promotionTemplate.spec.steps[0].config.message: "},
      {"message.yaml", stage("s5", "{direct: true}", "uses: send-message"), "message.yaml:11:15: ",
       "stage s5: spec.promotionTemplate.spec.steps[0].uses: send-message: no channel"},
      {"cycle.yaml", stage("s3", "{stages: [s3]}", "uses: fail"), "cycle.yaml:",
       "stage s3: spec.requestedFreight[0].sources.stages[0]: Stage \"s3\" would request Freight "
       "from itself"},
      {"rrule.yaml",
       "apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: bad, "
       "namespace: bad}\nspec:\n  promotionWindows:\n  - {name: w, kind: Deny, rrule: "
       "\"FREQ=SOMETIMES\", dtstart: 20260101T000000Z, dtend: 20260101T010000Z}\n",
       "rrule.yaml:6:", "spec.promotionWindows[0].rrule: rrule FREQ: \"SOMETIMES\" is not"},
      {"warehouse.yaml",
       "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: "
       "bad}\nspec:\n  subscriptions:\n  - image: {repoURL: nginx, constraint: \"not a "
       "range\"}\n",
       "warehouse.yaml:6:", "constraint"},
      {"promotion.yaml",
       "apiVersion: kargo.akuity.io/v1alpha1\nkind: Promotion\nmetadata: {name: p, namespace: "
       "bad}\nspec: {stage: nowhere, freight: f}\n",
       "promotion.yaml:4:", "promotion p: spec.stage: could not find Stage \"nowhere\""},
  };
  for (const auto& c : cases) {
    Ran r = Cli({"apply", "-f", File(c.file, c.text)});
    EXPECT_EQ(r.exit_code, 2) << c.file << ": " << r.out;
    EXPECT_NE(r.err.find(c.place), std::string::npos) << c.file << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.file << ": " << r.err;
  }
  for (const char* what :
       {"stage/s1", "stage/s2", "stage/s3", "projectconfig/bad", "warehouse/w", "promotion/p"}) {
    EXPECT_NE(Cli({"get", what, "-n", "bad"}).exit_code, 0) << what << " was stored";
  }
  ASSERT_EQ(
      Cli({"apply", "-f", File("up.yaml", stage("s4", "{stages: [s5]}", "uses: fail"))}).exit_code,
      0);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Cli({"get", "stage", "s4", "-n", "bad", "-o",
                    "jsonpath={.status.conditions[0].message}"})
                   .out.find("requests Freight from Stage \"s5\" in bad, which does not exist") !=
               std::string::npos;
      },
      10s));
}

TEST_F(CliE2E, HelpCompletionAndTokenLifetimesInDays) {
  Ran r = Strake({"help", "get"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("jsonpath=TEMPLATE"), std::string::npos) << r.out;
  r = Strake({"help", "rollout", "promote"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Strake({"help", "gett"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown command \"gett\" (did you mean \"get\"?)"), std::string::npos)
      << r.err;
  r = Strake({"completion", "bash"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("complete -o default -F _strake strake"), std::string::npos);
  EXPECT_NE(r.out.find("pipelineruns"), std::string::npos);
  // The script completes: bash sources it and answers for `strake ge`.
  std::string script = File("c.bash", r.out);
  std::string probe = File(
      "probe.sh", "source " + script +
                      "\nCOMP_WORDS=(strake ge); COMP_CWORD=1; _strake; echo \"${COMPREPLY[*]}\"\n"
                      "COMP_WORDS=(strake get pipel); COMP_CWORD=2; _strake; "
                      "echo \"${COMPREPLY[*]}\"\n");
  std::string out_path = dir_ + "/probe.out";
  ASSERT_EQ(std::system(("bash " + probe + " > " + out_path).c_str()), 0);
  EXPECT_EQ(ReadFile(out_path).value_or(""), "get\npipelines pipelineruns\n");

  StartServer();
  r = Cli({"token", "create", "--role", "viewer", "--expires", "30d"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"token", "list"});
  std::string viewer;
  for (const auto& line : Split(r.out, '\n')) {
    if (line.find("viewer") != std::string::npos) viewer = line;
  }
  ASSERT_FALSE(viewer.empty()) << r.out;
  EXPECT_EQ(viewer.find("never"), std::string::npos) << "expires in 30 days: " << r.out;
  r = Cli({"token", "create", "--role", "viewer", "--expires", "30 days"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("a duration such as 30d"), std::string::npos) << r.err;
}

TEST_F(CliE2E, AWrongServerIsSaidAtOnce) {
  StartServer();
  // https:// to the plain API: refused at once, with the likely cause.
  auto started = std::chrono::steady_clock::now();
  std::string tls = "https" + server_.substr(4);
  Ran r = Strake({"get", "cm", "--server", tls}, 60s, {"STRAKE_TOKEN=" + token_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_NE(r.err.find("if it serves plain HTTP, its URL starts http://"), std::string::npos)
      << r.err;
  // Some other HTTP server (an application's port): said so, not a JSON error.
  uint16_t port = FreePort();
  auto web = Spawn({{"python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1",
                     "--directory", dir_},
                    {"PATH=/usr/bin:/bin"},
                    "",
                    -1,
                    -1,
                    -1,
                    {}});
  ASSERT_TRUE(web) << web.error().message;
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Strake({"get", "cm", "--server", url}).err.find("cannot reach") == std::string::npos;
      },
      20s));
  r = Strake({"get", "cm", "--server", url});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(url + " is not a strake server: it answered HTTP"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("json.exception"), std::string::npos) << r.err;
  KillAndReap(*web);
}

}  // namespace
}  // namespace strake::e2e
