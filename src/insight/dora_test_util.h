// Helpers of the DORA tests (ledger, sources, recorder): times on a fixed
// Monday, records, questions, and resources as the store holds them.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/tz.h"
#include "insight/dora.h"
#include "store/temp_store.h"

namespace strake::insight::testing {

using Json = store::Json;

inline constexpr int64_t kHour = 3'600'000;
inline constexpr int64_t kDay = 24 * kHour;
inline const int64_t kDay0 = DaysFromCivil(2026, 11, 2);  // a Monday

inline int64_t At(int day, int64_t hours) { return (kDay0 + day) * kDay + hours * kHour; }
inline std::string Rfc(int64_t ms) {
  return FormatRfc3339(TimePoint(std::chrono::milliseconds(ms)));
}

inline store::DeploymentRecord Dep(const std::string& id, const std::string& env, int64_t finished,
                                   std::vector<store::DeploymentRecord::Commit> changes = {},
                                   const std::string& ns = "shop") {
  store::DeploymentRecord d;
  d.id = id;
  d.ns = ns;
  d.environment = env;
  d.tier = TierName(GuessTier(env));
  d.finished_ms = finished;
  d.changes = std::move(changes);
  return d;
}

inline Query Ask(Metric metric, int first, int last, Interval interval = Interval::kAll) {
  Query q;
  q.metric = metric;
  q.start_day = kDay0 + first;
  q.end_day = kDay0 + last;
  q.interval = interval;
  return q;
}

// The value of a one-bucket answer.
inline std::optional<double> One(const Result<std::vector<Bucket>>& b) {
  EXPECT_TRUE(b);
  if (!b) return std::nullopt;
  EXPECT_EQ(b->size(), 1u);
  return b->empty() ? std::nullopt : (*b)[0].value;
}

inline store::Resource Obj(const std::string& kind, const std::string& name, Json object,
                           Json status, std::map<std::string, std::string> labels = {}) {
  store::Resource r;
  r.key = {kind, "shop", name};
  r.object = std::move(object);
  r.status = std::move(status);
  r.labels = std::move(labels);
  return r;
}

inline store::Resource App(const std::string& name, Json history,
                           std::map<std::string, std::string> labels = {}) {
  return Obj("Application", name, Json::object(), {{"history", std::move(history)}},
             std::move(labels));
}

// A history entry of an Application synced to `sha` at `at`.
inline Json Synced(int id, const std::string& sha, int64_t at) {
  return {{"id", id},
          {"revision", sha},
          {"deployedAt", Rfc(at)},
          {"source", {{"repoURL", "https://git.example/app.git"}}}};
}

inline Json Freight(const std::string& name, const std::string& sha) {
  return {{"name", name}, {"commits", {{{"repoURL", "https://git.example/app.git"}, {"id", sha}}}}};
}

inline store::Resource Promo(const std::string& name, const std::string& stage,
                             const std::string& phase, int64_t finished, const std::string& freight,
                             const std::string& sha) {
  return Obj("Promotion", name, {{"spec", {{"stage", stage}, {"freight", freight}}}},
             {{"phase", phase}, {"finishedAt", Rfc(finished)}, {"freight", Freight(freight, sha)}});
}

// A fixture with a store of its own.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("dora-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
  }
  store::Store& st() { return temp_.store(); }
  store::TempStore temp_;
};

}  // namespace strake::insight::testing
