#include "insight/ledger.h"

#include <gtest/gtest.h>

#include "insight/dora_test_util.h"

namespace strake::insight {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the tests' helpers

using LedgerTest = StoreTest;

TEST_F(LedgerTest, StoreKeepsRecordsWholeAndReplacesThem) {
  auto a = Dep("Promotion/shop/a", "prod", At(0, 10), {{"c1", At(0, 8)}, {"c2", At(0, 9)}});
  a.heads = {{"https://git.example/a.git", "c2"}, {"https://git.example/b.git", "x"}};
  a.changes_known = false;
  a.failed_ms = At(0, 11);
  a.failure = "verification failed";
  auto b = Dep("Promotion/other/b", "prod", At(3, 10), {{"c3", At(2, 9)}}, "other");
  ASSERT_TRUE(st().PutDeployments({a, b}));
  auto got = st().GetDeployment(a.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, a);
  a.changes = {{"c9", At(0, 1)}};  // replaced, not added to
  a.restored_ms = At(1, 0);
  ASSERT_TRUE(st().PutDeployments({a}));
  EXPECT_EQ(**st().GetDeployment(a.id), a);
  EXPECT_FALSE(*st().GetDeployment("Promotion/shop/none"));

  std::vector<std::string> seen;
  auto walk = [&](const store::DeploymentFilter& f) {
    seen.clear();
    EXPECT_TRUE(st().ForEachDeployment(f, [&](store::DeploymentRecord& r) {
      seen.push_back(r.id);
      return true;
    }));
    return seen;
  };
  EXPECT_EQ(walk({}), (std::vector<std::string>{a.id, b.id}));  // as first written
  EXPECT_EQ(walk({"other"}), (std::vector<std::string>{b.id}));
  // Finished or restored within the range.
  EXPECT_EQ(walk({"", At(1, 0), At(2, 0)}), (std::vector<std::string>{a.id}));
  EXPECT_EQ(walk({"", At(1, 1), At(2, 0)}), std::vector<std::string>{});
}

TEST_F(LedgerTest, TheStoreFindsTheDeploymentsAroundAnInstant) {
  auto a = Dep("p/a", "prod", At(0, 1));
  a.revision = "f1";
  auto b = Dep("p/b", "prod", At(0, 4));
  b.revision = "f2";
  auto b2 = Dep("p/b2", "prod", At(0, 4));  // the same instant, written later
  b2.revision = "f2";
  auto c = Dep("p/c", "prod", At(0, 6));
  c.revision = "f2";
  auto other = Dep("o/x", "uat", At(0, 4));
  ASSERT_TRUE(st().PutDeployments({a, b, b2, c, other}));
  auto id = [](const Result<std::optional<store::DeploymentRecord>>& r) {
    return r && *r ? (*r)->id : std::string("none");
  };
  EXPECT_EQ(id(st().LastDeploymentAt("shop", "prod", At(0, 5), "")), "p/b2");
  EXPECT_EQ(id(st().LastDeploymentAt("shop", "prod", At(0, 5), "p/b2")), "p/b");
  EXPECT_EQ(id(st().LastDeploymentAt("shop", "prod", At(0, 5), "", {"f1"})), "p/a");
  EXPECT_EQ(id(st().LastDeploymentAt("shop", "prod", At(0, 5), "", {"f9"})), "none");
  EXPECT_EQ(id(st().LastDeploymentAt("shop", "prod", At(0, 0), "")), "none");
  EXPECT_EQ(id(st().LastDeploymentAt("other", "prod", At(0, 9), "")), "none");
  EXPECT_EQ(id(st().FirstDeploymentFrom("shop", "prod", At(0, 2), "")), "p/b");
  EXPECT_EQ(id(st().FirstDeploymentFrom("shop", "prod", At(0, 4), "p/b")), "p/b2");
  EXPECT_EQ(id(st().FirstDeploymentFrom("shop", "prod", At(0, 7), "")), "none");
  // Failures open at an instant: not restored, or restored after it.
  a.failed_ms = At(0, 2);
  a.restored_ms = At(0, 5);
  b.failed_ms = At(0, 4);
  c.failed_ms = At(0, 7);
  ASSERT_TRUE(st().PutDeployments({a, b, c}));
  auto open = st().FailuresOpenAt("shop", "prod", At(0, 4));
  ASSERT_TRUE(open);
  std::vector<std::string> ids;
  for (const auto& f : *open) ids.push_back(f.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"p/a", "p/b"}));
  EXPECT_EQ(st().FailuresOpenAt("shop", "prod", At(0, 5))->size(), 1u);  // a was restored then
}

TEST_F(LedgerTest, PagesOfTheWalkKeepEachRecordsChanges) {
  std::vector<store::DeploymentRecord> all;
  for (int i = 0; i < 5000; ++i) {
    all.push_back(Dep("d" + std::to_string(i), "prod", At(i % 30, 1),
                      {{"c" + std::to_string(i), At(i % 30, 0)}}));
  }
  ASSERT_TRUE(st().PutDeployments(all));
  size_t n = 0;
  ASSERT_TRUE(st().ForEachDeployment({}, [&](store::DeploymentRecord& r) {
    EXPECT_EQ(r.id, all[n].id);
    EXPECT_EQ(r.changes, all[n].changes);
    ++n;
    return true;
  }));
  EXPECT_EQ(n, all.size());
}

TEST_F(LedgerTest, AnswersFromTheIndexAndAgainAfterARestart) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"a", At(0, 9)}, {"b", At(0, 7)}})));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(1, 10), {{"c", At(1, 6)}})));
  ASSERT_TRUE(ledger.Record(Dep("s/1", "staging", At(1, 11), {{"d", At(1, 1)}})));
  ASSERT_TRUE(ledger.Record(Dep("o/1", "prod", At(1, 12), {}, "other")));
  // Recorded again, unchanged: nothing counts twice.
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(1, 10), {{"c", At(1, 6)}})));

  auto check = [](Ledger& l) {
    EXPECT_EQ(One(l.Answer("shop", Ask(Metric::kDeploymentFrequency, 0, 1))), 1.0);  // 2 in 2 days
    EXPECT_EQ(One(l.Answer("", Ask(Metric::kDeploymentFrequency, 0, 1))), 1.5);
    // 1 h, 3 h, 4 h: the median is 3 h.
    EXPECT_EQ(One(l.Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 1))), 3 * 3600.0);
    EXPECT_EQ(One(l.Answer("nowhere", Ask(Metric::kDeploymentFrequency, 0, 1))), 0.0);
  };
  check(ledger);
  Ledger restarted(st());  // reads the records at its first question
  check(restarted);
}

TEST_F(LedgerTest, AFailureIsRestoredByTheNextDeploymentOfItsEnvironment) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 11), "verification failed: error rate"));
  ASSERT_TRUE(ledger.Record(Dep("s/1", "staging", At(0, 12))));  // another environment
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), std::nullopt);
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 13))));
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), 2 * 3600.0);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 3))), 0.5);
  // A later finding does not move the first; recording it again keeps it.
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 12), "again"));
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  auto p1 = **st().GetDeployment("p/1");
  EXPECT_EQ(p1.failed_ms, At(0, 11));
  EXPECT_EQ(p1.restored_ms, At(0, 13));
  EXPECT_EQ(p1.failure, "verification failed: error rate");
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 3))), 0.5);
  EXPECT_FALSE(ledger.MarkFailed("p/none", At(0, 12), "x"));
  const std::string text = ledger.PrometheusText();
  EXPECT_NE(text.find("strake_dora_deployments_total{tier=\"production\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("strake_dora_failed_deployments_total{tier=\"production\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("strake_dora_deployments_total{tier=\"staging\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find("namespace="), std::string::npos);  // /metrics is public
}

TEST_F(LedgerTest, AFailureFoundAfterLaterDeploymentsIsRestoredByTheFirstOfThem) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 14))));
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(0, 20))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 12), "incident"));
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, At(0, 14));
  // An open failure survives a restart and is restored after it.
  ASSERT_TRUE(ledger.MarkFailed("p/3", At(0, 21), "canary aborted"));
  Ledger restarted(st());
  ASSERT_TRUE(restarted.Record(Dep("p/4", "prod", At(1, 1))));
  EXPECT_EQ((**st().GetDeployment("p/3")).restored_ms, At(1, 1));
  // 2 h and 4 h.
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), 3 * 3600.0);
}

TEST_F(LedgerTest, ExplainListsTheRecordsBehindTheSameValue) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"a", At(0, 9)}})));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(5, 10), {{"b", At(5, 6)}})));  // outside
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(2, 10), {{"c", At(1, 10)}})));
  const Query q = Ask(Metric::kLeadTimeForChanges, 0, 3, Interval::kDaily);
  auto explained = ledger.Explain("shop", q);
  ASSERT_TRUE(explained);
  auto plain = ledger.Answer("shop", q);
  ASSERT_TRUE(plain);
  ASSERT_EQ(explained->buckets.size(), plain->size());
  for (size_t i = 0; i < plain->size(); ++i)
    EXPECT_EQ(explained->buckets[i].value, (*plain)[i].value);
  ASSERT_EQ(explained->records.size(), 2u);
  ASSERT_EQ(explained->buckets[2].samples.size(), 1u);
  EXPECT_EQ(explained->records[explained->buckets[2].samples[0].deployment].id, "p/3");
  EXPECT_EQ(explained->buckets[2].samples[0].seconds, 24 * 3600.0);
}

TEST_F(LedgerTest, ADeploymentRecordedLateStillRestoresAFailureFirst) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 11), "bad"));
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(0, 20))));  // restores it at 20
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, At(0, 20));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 14))));  // recorded late: the first after
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, At(0, 14));
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 3 * 3600.0);
  // Index and store agree: a fresh ledger reads the same.
  Ledger fresh(st());
  EXPECT_EQ(One(fresh.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 3 * 3600.0);
}

TEST_F(LedgerTest, ACommitListedTwiceCountsOnce) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"a", At(0, 9)}, {"a", At(0, 9)}})));
  EXPECT_EQ((**st().GetDeployment("p/1")).changes.size(), 1u);
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"b", At(0, 7)}})));  // replaced
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 0))), 3 * 3600.0);
  EXPECT_NE(ledger.PrometheusText().find("strake_dora_changes_total{tier=\"production\"} 1\n"),
            std::string::npos)
      << ledger.PrometheusText();
}

TEST_F(LedgerTest, ExplainListsAtMostItsLimit) {
  Ledger ledger(st());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(ledger.Record(Dep("p/" + std::to_string(i), "prod", At(i, 10))));
  ASSERT_TRUE(ledger.Explain("shop", Ask(Metric::kDeploymentFrequency, 0, 2), 3));
  auto refused = ledger.Explain("shop", Ask(Metric::kDeploymentFrequency, 0, 2), 2);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("at most 2 deployments"), std::string::npos);
  EXPECT_TRUE(ledger.Explain("shop", Ask(Metric::kDeploymentFrequency, 0, 1), 2));
}

TEST_F(LedgerTest, AFilteredWalkReadsOnlyItsRecordsChanges) {
  std::vector<store::DeploymentRecord> all;
  for (int i = 0; i < 50; ++i) {
    all.push_back(Dep("d" + std::to_string(i), "prod", At(i % 10 == 0 ? 40 : 1, 1),
                      {{"c" + std::to_string(i), At(0, 0)}}));
  }
  ASSERT_TRUE(st().PutDeployments(all));
  std::vector<std::string> seen;
  ASSERT_TRUE(st().ForEachDeployment({"", At(40, 0), At(41, 0)}, [&](store::DeploymentRecord& r) {
    EXPECT_EQ(r.changes.size(), 1u);
    EXPECT_EQ(r.changes.at(0).sha, "c" + r.id.substr(1));
    seen.push_back(r.id);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"d0", "d10", "d20", "d30", "d40"}));
}

// An incident fails what it names from its opening to its close (the next
// deployment does not restore it), and what was deployed meanwhile is
// rework, recorded before the incident was applied or after.
TEST_F(LedgerTest, AnIncidentFailsItsDeploymentUntilItClosesAndMakesRework) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 12))));  // a fix, before it was applied
  ASSERT_TRUE(ledger.Record(Dep("s/1", "staging", At(0, 12))));
  IncidentFacts i{"shop/down", "shop",       "prod", "checkout answers 500",
                  At(0, 11),   std::nullopt, "p/1"};
  ASSERT_TRUE(ledger.ApplyIncident(i));
  auto p1 = **st().GetDeployment("p/1");
  EXPECT_EQ(p1.failed_ms, At(0, 11));
  EXPECT_EQ(p1.restored_ms, std::nullopt);  // p/2 does not restore it: the incident is open
  EXPECT_EQ(p1.failure, "incident down: checkout answers 500");
  EXPECT_EQ(p1.incident, "shop/down");
  EXPECT_TRUE((**st().GetDeployment("p/2")).unplanned);
  EXPECT_FALSE((**st().GetDeployment("s/1")).unplanned);      // another environment
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(0, 13))));  // during it, recorded after
  EXPECT_TRUE((**st().GetDeployment("p/3")).unplanned);
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, std::nullopt);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 2.0 / 3);
  // Closed: restored then; applying it again changes nothing more.
  i.closed_ms = At(0, 15);
  ASSERT_TRUE(ledger.ApplyIncident(i));
  ASSERT_TRUE(ledger.ApplyIncident(i));
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, At(0, 15));
  ASSERT_TRUE(ledger.Record(Dep("p/4", "prod", At(0, 16))));  // after it: planned
  EXPECT_FALSE((**st().GetDeployment("p/4")).unplanned);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 4 * 3600.0);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 0))), 0.25);
  // A restart answers the same (the index is read from the records).
  Ledger restarted(st());
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 4 * 3600.0);
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 0.5);
  // Named another deployment: the first is no longer failed by it.
  i.deployment = "p/2";
  ASSERT_TRUE(ledger.ApplyIncident(i));
  EXPECT_EQ((**st().GetDeployment("p/1")).failed_ms, std::nullopt);
  EXPECT_EQ((**st().GetDeployment("p/2")).incident, "shop/down");
  EXPECT_EQ((**st().GetDeployment("p/2")).failed_ms, At(0, 11));
  EXPECT_EQ(*st().IncidentsMarking(), std::vector<std::string>{"shop/down"});
  EXPECT_FALSE((**st().GetDeployment("p/2")).unplanned);  // the cause, not rework
  // Deleted: its failure and its rework are undone.
  ASSERT_TRUE(ledger.ForgetIncident("shop/down"));
  EXPECT_EQ((**st().GetDeployment("p/2")).failed_ms, std::nullopt);
  EXPECT_FALSE((**st().GetDeployment("p/3")).unplanned);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 0))), 0.0);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 0.0);
  EXPECT_TRUE(st().IncidentsMarking()->empty());
}

// Rework is what finished while the incident was open: one closed earlier
// than a deployment recorded meanwhile makes it planned again, and a
// rollback's own rework is never taken back. Records written out of the
// order they finished keep their commits when an incident rewrites them.
TEST_F(LedgerTest, AnIncidentsReworkFollowsItsWindow) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  IncidentFacts i{"shop/slow", "shop", "prod", "slow", At(0, 11), std::nullopt, "p/1"};
  ASSERT_TRUE(ledger.ApplyIncident(i));
  // Recorded later, finished earlier: seq order is not finish order.
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(0, 14), {{"c3", At(0, 13)}})));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 12), {{"c2", At(0, 11)}})));
  auto rollback = Dep("p/4", "prod", At(0, 15));
  rollback.unplanned = true;  // as its source says
  ASSERT_TRUE(ledger.Record(rollback));
  EXPECT_EQ((**st().GetDeployment("p/3")).rework_by, "shop/slow");
  EXPECT_EQ((**st().GetDeployment("p/4")).rework_by, "");
  i.closed_ms = At(0, 13);  // resolved at 13:00, told later
  ASSERT_TRUE(ledger.ApplyIncident(i));
  EXPECT_TRUE((**st().GetDeployment("p/2")).unplanned);
  EXPECT_FALSE((**st().GetDeployment("p/3")).unplanned);
  EXPECT_TRUE((**st().GetDeployment("p/4")).unplanned);  // a rollback stays rework
  EXPECT_EQ((**st().GetDeployment("p/2")).changes,
            (std::vector<store::DeploymentRecord::Commit>{{"c2", At(0, 11)}}));
  EXPECT_EQ((**st().GetDeployment("p/3")).changes,
            (std::vector<store::DeploymentRecord::Commit>{{"c3", At(0, 13)}}));
  auto walk = st().DeploymentsFinishedIn("shop", "prod", At(0, 0), At(1, 0));
  ASSERT_TRUE(walk);
  ASSERT_EQ(walk->size(), 4u);
  for (const auto& d : *walk) EXPECT_EQ(d.changes.size(), d.id == "p/2" || d.id == "p/3" ? 1u : 0u);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 0.5);
  Ledger restarted(st());
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 0.5);
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 0))), 3600.0);
}

// An earlier finding stands: a deployment a verification failed before the
// incident opened keeps that failure (and its restore by the next
// deployment); one the incident found first is not restored by the next
// deployment, and a failure found later does not replace it.
TEST_F(LedgerTest, TheEarliestFindingOfAFailureStands) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 11), "verification failed"));
  ASSERT_TRUE(
      ledger.ApplyIncident({"shop/late", "shop", "prod", "t", At(0, 12), std::nullopt, "p/1"}));
  EXPECT_EQ((**st().GetDeployment("p/1")).failure, "verification failed");
  EXPECT_EQ((**st().GetDeployment("p/1")).incident, "");
  ASSERT_TRUE(ledger.Record(Dep("q/1", "qa", At(0, 10))));
  ASSERT_TRUE(ledger.ApplyIncident({"shop/qa", "shop", "qa", "t", At(0, 11), std::nullopt, "q/1"}));
  ASSERT_TRUE(ledger.MarkFailed("q/1", At(0, 12), "verification failed"));
  ASSERT_TRUE(ledger.Record(Dep("q/2", "qa", At(0, 13))));
  auto q1 = **st().GetDeployment("q/1");
  EXPECT_EQ(q1.incident, "shop/qa");
  EXPECT_EQ(q1.restored_ms, std::nullopt);
  // A commit's first deployment, by prefix, production first.
  auto c = Dep("c/1", "uat", At(1, 1), {{"abcdef0123", At(1, 0)}});
  auto c2 = Dep("c/2", "prod", At(1, 2), {{"abcdef0123", At(1, 0)}});
  ASSERT_TRUE(ledger.Record(c));
  ASSERT_TRUE(ledger.Record(c2));
  EXPECT_EQ((**st().FirstBringing("shop", "", "abcdef")).id, "c/2");
  EXPECT_EQ((**st().FirstBringing("shop", "uat", "abcdef0123")).id, "c/1");
  EXPECT_FALSE(*st().FirstBringing("shop", "", "abcdef1"));
  EXPECT_FALSE(*st().FirstBringing("other", "", "abcdef"));
}

}  // namespace
}  // namespace strake::insight
