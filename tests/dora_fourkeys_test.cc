// DORA's answers through the store, the ledger and the API handler equal
// Four Keys' SQL formulas run by SQLite over the same records
// (tests/dora_fourkeys.h), also after a restart's reload.
#include "tests/dora_fourkeys.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace strake
