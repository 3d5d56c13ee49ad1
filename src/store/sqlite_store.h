// SqliteStore: the embedded default Store, one SQLite file in WAL mode.
//
// One connection behind a mutex with cached prepared statements; every write
// is one transaction (synchronous=NORMAL: durable against a crash of the
// process, which is what kill -9 tests; an OS crash may lose the last
// transactions, never corrupt the file). The WAL is checkpointed by a thread
// of the store's own, on a second connection, so no write waits for the
// checkpoint's fsyncs. Schema changes are numbered
// migrations tracked in PRAGMA user_version.
#pragma once

#include <string>

#include "store/store.h"

namespace strake::store {

Result<StorePtr> OpenSqliteStore(const std::string& path);

}  // namespace strake::store
