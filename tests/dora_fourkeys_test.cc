// DORA's answers through the store, the ledger and the API handler equal
// Four Keys' SQL formulas run by SQLite over the same records
// (tests/dora_fourkeys.h): records read at a start, and records written
// one by one through the ledger, out of order, failures found after.
#include "tests/dora_fourkeys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "store/temp_store.h"

namespace strake {
namespace {

TEST(DoraFourKeys, TheApiAnswersAsFourKeysSqlOverTheSameRecords) {
  auto temp = store::TempStore::Make("dora-fourkeys");
  ASSERT_TRUE(temp);
  const int64_t first_day = DaysFromCivil(2025, 1, 1);
  ASSERT_TRUE(dora_data::Generate(temp->store(), 6'000, 3, first_day, 400));
  insight::Ledger ledger(temp->store());
  ASSERT_TRUE(ledger.Load());
  auto checked = dora_data::CrossCheck(ledger, temp->dir() + "/strake.db", 8, first_day, 400);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->compared, 8 * 4 * 90);
  EXPECT_EQ(checked->differ, 0) << checked->first;
}

TEST(DoraFourKeys, RecordsWrittenThroughTheLedgerAnswerAsTheirSql) {
  auto source = store::TempStore::Make("dora-fourkeys-src");
  ASSERT_TRUE(source);
  const int64_t first_day = DaysFromCivil(2025, 1, 1);
  ASSERT_TRUE(dora_data::Generate(source->store(), 1'500, 3, first_day, 200));
  std::vector<store::DeploymentRecord> records;
  ASSERT_TRUE(source->store().ForEachDeployment({}, [&](store::DeploymentRecord& r) {
    records.push_back(r);
    return true;
  }));
  std::mt19937_64 rng(3);
  std::shuffle(records.begin(), records.end(), rng);
  auto temp = store::TempStore::Make("dora-fourkeys");
  ASSERT_TRUE(temp);
  insight::Ledger ledger(temp->store());
  for (const auto& r : records) {
    store::DeploymentRecord plain = r;
    plain.failed_ms.reset();
    plain.restored_ms.reset();
    plain.failure.clear();
    ASSERT_TRUE(ledger.Record(plain));
  }
  std::shuffle(records.begin(), records.end(), rng);
  for (const auto& r : records) {
    if (r.failed_ms) {
      ASSERT_TRUE(ledger.MarkFailed(r.id, *r.failed_ms, r.failure));
    }
  }
  auto checked = dora_data::CrossCheck(ledger, temp->dir() + "/strake.db", 8, first_day, 200);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->differ, 0) << checked->first;
}

}  // namespace
}  // namespace strake
