// TempStore: a SQLite store in a new temporary directory, for tests and
// benchmarks; the directory goes with it.
#pragma once

#include <string>
#include <utility>

#include "base/fs.h"
#include "base/result.h"
#include "store/sqlite_store.h"

namespace strake::store {

class TempStore {
 public:
  static Result<TempStore> Make(const std::string& prefix) {
    STRAKE_TRY_ASSIGN(dir, MakeTempDir(prefix));
    TempStore t;
    t.dir_ = dir;
    STRAKE_TRY_ASSIGN(st, OpenSqliteStore(dir + "/strake.db"));
    t.store_ = std::move(st);
    return t;
  }
  TempStore() = default;
  TempStore(TempStore&& o) noexcept { *this = std::move(o); }
  TempStore& operator=(TempStore&& o) noexcept {
    std::swap(dir_, o.dir_);
    std::swap(store_, o.store_);
    return *this;
  }
  ~TempStore() {
    store_.reset();
    if (!dir_.empty()) (void)RemoveAll(dir_);
  }

  Store& store() { return *store_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  StorePtr store_;
};

}  // namespace strake::store
