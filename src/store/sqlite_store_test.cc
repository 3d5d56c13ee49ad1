#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <string>
#include <thread>

#include "base/fs.h"

namespace strake::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strake-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    (void)RemoveAll(dir_);
  }
  Resource Make(const std::string& name) {
    Resource r;
    r.key = {"TaskRun", "default", name};
    r.labels["a"] = "b";
    r.object = {{"spec", {{"x", 1}}}};
    return r;
  }
  std::string dir_;
  StorePtr store_;
};

TEST_F(SqliteStoreTest, CreateGetListDelete) {
  auto r = store_->Create(Make("one"), "Created", "");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->uid.empty());
  EXPECT_EQ(r->generation, 1);
  auto got = store_->Get({"TaskRun", "default", "one"});
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->labels.at("a"), "b");
  EXPECT_EQ((*got)->object["spec"]["x"], 1);
  auto again = store_->Create(Make("one"), "Created", "");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(store_->Delete({"TaskRun", "default", "none"}).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(store_->Create(Make("two"), "Created", ""));
  EXPECT_EQ(store_->List("TaskRun", "default")->size(), 2u);
  ASSERT_TRUE(store_->Delete({"TaskRun", "default", "one"}));
  EXPECT_EQ(store_->List("TaskRun", "")->size(), 1u);
}

// A value that is not UTF-8 (a commit subject cut inside "é", a Latin-1
// author) is stored with U+FFFD in its place; it used to throw inside the
// open transaction and leave every later write failing.
TEST_F(SqliteStoreTest, BytesThatAreNotUtf8AreReplacedAndLaterWritesWork) {
  Resource r = Make("odd");
  const std::string cut = "caf\xc3";     // "café" cut inside the é
  const std::string latin1 = "Jos\xe9";  // José in Latin-1
  r.object["subject"] = cut;
  r.status = {{"author", latin1}};
  auto made = store_->Create(r, "Created", "");
  ASSERT_TRUE(made) << made.error().message;
  auto updated =
      store_->UpdateStatus(r.key, {{"author", latin1}}, made->resource_version, "Updated", "");
  ASSERT_TRUE(updated) << updated.error().message;
  auto got = store_->Get(r.key);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((**got).object["subject"], "caf\xef\xbf\xbd");
  EXPECT_EQ((**got).status["author"], "Jos\xef\xbf\xbd");
  EXPECT_TRUE(store_->Create(Make("after"), "Created", ""));
}

TEST_F(SqliteStoreTest, OptimisticConcurrency) {
  auto r = store_->Create(Make("one"), "Created", "");
  ASSERT_TRUE(r);
  auto u1 =
      store_->UpdateStatus(r->key, {{"phase", "Running"}}, r->resource_version, "Running", "");
  ASSERT_TRUE(u1) << u1.error().message;
  auto u2 = store_->UpdateStatus(r->key, {{"phase", "Failed"}}, r->resource_version, "Failed", "");
  ASSERT_FALSE(u2);
  EXPECT_EQ(u2.error().code, ErrorCode::kConflict);
  EXPECT_NE(u2.error().message.find("conflict"), std::string::npos);
  EXPECT_EQ((*store_->Get(r->key))->status["phase"], "Running");
}

TEST_F(SqliteStoreTest, GenerationBumpsOnlyOnSpecChange) {
  auto r = store_->Create(Make("one"), "Created", "");
  Resource changed = *r;
  changed.labels["c"] = "d";
  auto u = store_->Update(changed, 0);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->generation, 1);
  changed.object["spec"]["x"] = 2;
  u = store_->Update(changed, 0);
  EXPECT_EQ(u->generation, 2);
}

TEST_F(SqliteStoreTest, EveryWriteIsAChangeInOrder) {
  std::vector<int64_t> seen;
  store_->Subscribe([&](const Change& c) { seen.push_back(c.revision); });
  auto r = store_->Create(Make("one"), "Created", "made");
  (void)store_->UpdateStatus(r->key, {{"p", 1}}, 0, "Running", "go");
  (void)store_->Delete(r->key);
  auto changes = store_->ChangesSince(0, 100);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 3u);
  EXPECT_EQ((*changes)[0].type, "ADDED");
  EXPECT_EQ((*changes)[1].reason, "Running");
  EXPECT_EQ((*changes)[2].type, "DELETED");
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(*store_->Revision(), (*changes)[2].revision);
}

TEST_F(SqliteStoreTest, ChangesAreFilteredByKindNamespaceAndName) {
  auto one = store_->Create(Make("one"), "Created", "");
  ASSERT_TRUE(one);
  ASSERT_TRUE(store_->Create(Make("two"), "Created", ""));
  (void)store_->UpdateStatus(one->key, {{"p", 1}}, 0, "Running", "");
  auto only = store_->ChangesSince(0, 100, {one->key.kind, one->key.ns, "one"});
  ASSERT_TRUE(only);
  ASSERT_EQ(only->size(), 2u);
  EXPECT_EQ((*only)[1].reason, "Running");
  // The limit counts the changes selected, not the ones read past.
  auto first = store_->ChangesSince(0, 1, {"", "", "two"});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].key.name, "two");
  EXPECT_EQ(store_->ChangesSince(0, 100, {"NoSuchKind", "", ""})->size(), 0u);
  EXPECT_EQ(store_->ChangesSince(0, 100, {"", "elsewhere", ""})->size(), 0u);
  EXPECT_EQ(store_->ChangesSince(0, 100)->size(), 3u);
}

TEST_F(SqliteStoreTest, SurvivesReopenAndOwnerIndex) {
  Resource child = Make("child");
  child.owner = "parent-uid";
  ASSERT_TRUE(store_->Create(child, "Created", ""));
  ASSERT_TRUE(store_->Create(Make("other"), "Created", ""));
  store_.reset();
  auto s = OpenSqliteStore(dir_ + "/strake.db");
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  auto owned = store_->List("TaskRun", "default", "parent-uid");
  ASSERT_TRUE(owned);
  ASSERT_EQ(owned->size(), 1u);
  EXPECT_EQ((*owned)[0].key.name, "child");
}

// The WAL is copied back by the store's own thread: it stays bounded
// however many writes go by, and what was written is all there.
TEST_F(SqliteStoreTest, TheWalIsCheckpointedBesideTheWrites) {
  Resource big = Make("big");
  big.object["spec"]["blob"] = std::string(3000, 'x');
  for (int i = 0; i < 3000; ++i) {
    big.key.name = "big-" + std::to_string(i);
    ASSERT_TRUE(store_->Create(big, "Created", ""));
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/strake.db-wal").c_str(), &st), 0);
  // 3,000 writes of several pages each, back to back: 80 MB of WAL without
  // checkpoints (measured). With them, a writer finishes the checkpoint
  // once the WAL passes 8,000 pages (32 MB), and the file is cut back.
  EXPECT_LT(st.st_size, 34 << 20);
  auto all = store_->List("TaskRun", "default", "");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3000u);
}

TEST_F(SqliteStoreTest, ConcurrentWritersGetDistinctRevisions) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(
            store_->Create(Make("r" + std::to_string(t) + "-" + std::to_string(i)), "Created", ""));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->List("TaskRun", "")->size(), 200u);
  EXPECT_EQ(*store_->Revision(), 200);
}

// Webhook delivery ids: once each within the window, across a reopen (a
// restart), forgotten after it; no resource and no change.
TEST_F(SqliteStoreTest, AnIdIsMarkedOnceUntilItsWindowEnds) {
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 1000, 0), true);
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 2000, 0), false);
  EXPECT_EQ(store_->MarkOnce("other", "github/d-1", 2000, 0), true);  // scopes apart
  store_.reset();
  auto s = OpenSqliteStore(dir_ + "/strake.db");
  ASSERT_TRUE(s);
  store_ = std::move(*s);
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 3000, 500), false);
  // Once the window has passed the record's time, it is dropped.
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-2", 5000, 1001), true);
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 5000, 1001), true);
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 5001, 1001), false);
  ASSERT_TRUE(store_->UnmarkOnce("webhook", "github/d-1"));
  EXPECT_EQ(store_->MarkOnce("webhook", "github/d-1", 5002, 1001), true);
  EXPECT_EQ(*store_->Revision(), 0);
}

TEST_F(SqliteStoreTest, AStoreOfTheFirstSchemaIsMigrated) {
  ASSERT_TRUE(store_->Create(Make("kept"), "Created", ""));
  store_.reset();
  std::string first = "sqlite3 " + dir_ +
                      "/strake.db 'DROP TABLE once_ids; DROP TABLE dora_deployments; "
                      "DROP TABLE dora_changes; PRAGMA user_version=1'";
  ASSERT_EQ(system(first.c_str()), 0);
  auto s = OpenSqliteStore(dir_ + "/strake.db");
  ASSERT_TRUE(s) << s.error().message;
  store_ = std::move(*s);
  EXPECT_TRUE(*store_->Get({"TaskRun", "default", "kept"}));
  EXPECT_EQ(store_->MarkOnce("webhook", "d", 1, 0), true);
  DeploymentRecord d;
  d.id = "Promotion/shop/p";
  d.changes = {{"abc", 1}};
  ASSERT_TRUE(store_->PutDeployments({d}));
  EXPECT_EQ(**store_->GetDeployment(d.id), d);
}

TEST_F(SqliteStoreTest, RefusesNewerSchema) {
  store_.reset();
  ASSERT_EQ(system(("sqlite3 " + dir_ + "/strake.db 'PRAGMA user_version=99'").c_str()), 0);
  auto s = OpenSqliteStore(dir_ + "/strake.db");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("newer than this strake"), std::string::npos);
}

}  // namespace
}  // namespace strake::store

namespace strake::store {
namespace {

TEST(SqliteStoreOpen, ConcurrentFirstOpensMigrateOnce) {
  char tmpl[] = "/tmp/strake-store-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto s = OpenSqliteStore(dir + "/strake.db");
      if (!s) failures++;
      if (s) (void)(*s)->Revision();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace strake::store
