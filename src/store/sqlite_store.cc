#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "base/clock.h"
#include "base/ids.h"

namespace strake::store {

namespace {

// SQLite's busy, locked and full answers are "try again later".
ErrorCode CodeOf(int sqlite_rc) {
  switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kUnknown;
  }
}

// Numbered migrations; index i brings the schema from version i to i+1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE resources (
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  uid TEXT NOT NULL UNIQUE,
  generation INTEGER NOT NULL,
  resource_version INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '{}',
  object TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (kind, namespace, name)
);
CREATE INDEX resources_owner ON resources(owner) WHERE owner != '';
CREATE TABLE changes (
  revision INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  reason TEXT NOT NULL,
  message TEXT NOT NULL,
  time_ms INTEGER NOT NULL
);
)sql",
    R"sql(
CREATE TABLE once_ids (
  scope TEXT NOT NULL,
  id TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  PRIMARY KEY (scope, id)
) WITHOUT ROWID;
CREATE INDEX once_ids_time ON once_ids(scope, time_ms);
)sql",
    R"sql(
CREATE TABLE dora_deployments (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  namespace TEXT NOT NULL,
  environment TEXT NOT NULL,
  tier TEXT NOT NULL,
  revision TEXT NOT NULL,
  heads TEXT NOT NULL,
  finished_ms INTEGER NOT NULL,
  unplanned INTEGER NOT NULL,
  failed_ms INTEGER,
  restored_ms INTEGER,
  failure TEXT NOT NULL,
  changes_known INTEGER NOT NULL
);
CREATE INDEX dora_deployments_finished ON dora_deployments(namespace, environment, finished_ms);
CREATE INDEX dora_deployments_failures ON dora_deployments(namespace, environment, restored_ms)
  WHERE failed_ms IS NOT NULL;
CREATE TABLE dora_changes (
  seq INTEGER NOT NULL,
  sha TEXT NOT NULL,
  committed_ms INTEGER NOT NULL,
  PRIMARY KEY (seq, sha)
) WITHOUT ROWID;
)sql",
    R"sql(
ALTER TABLE dora_deployments ADD COLUMN incident TEXT NOT NULL DEFAULT '';
ALTER TABLE dora_deployments ADD COLUMN rework_by TEXT NOT NULL DEFAULT '';
CREATE INDEX dora_changes_sha ON dora_changes(sha);
CREATE INDEX dora_deployments_incident ON dora_deployments(incident) WHERE incident != '';
CREATE INDEX dora_deployments_rework ON dora_deployments(rework_by) WHERE rework_by != '';
)sql",
};

// The columns of a DORA deployment record, in the order DeploymentRow reads
// them (seq first), for the statements that read whole records.
#define DORA_SELECT                                                                         \
  "SELECT seq, id, namespace, environment, tier, revision, heads, finished_ms, unplanned, " \
  "failed_ms, restored_ms, failure, changes_known, incident, rework_by FROM dora_deployments "

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Binds, steps and resets a statement; reset happens on scope exit.
class Use {
 public:
  explicit Use(sqlite3_stmt* s) : s_(s) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Use& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Use& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Use& OptInt(int i, const std::optional<int64_t>& v) {
    if (v) return Int(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string ColText(int i) {
    auto p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  std::optional<int64_t> ColOptInt(int i) {
    if (sqlite3_column_type(s_, i) == SQLITE_NULL) return std::nullopt;
    return ColInt(i);
  }

 private:
  sqlite3_stmt* s_;
};

Json LabelsJson(const std::map<std::string, std::string>& labels) {
  Json j = Json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j;
}

// A value's JSON text for a row. Bytes that are not UTF-8 (a commit
// subject cut mid-character, a Latin-1 author) become U+FFFD rather than
// an exception thrown inside an open transaction, which would leave it
// open and fail every later write.
std::string Text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Copies the WAL back into the database file on its own thread and
// connection. SQLite's automatic checkpoint runs inside the COMMIT that takes
// the WAL past 1,000 pages, fsyncs included, with the store's mutex held:
// every reader and writer of the store waited for the disk (measured: 0.6 s
// of a 2,000-task run). A passive checkpoint blocks no writer; the next
// write after a complete one starts the WAL over; a WAL that keeps growing
// is finished and truncated (kTruncatePages, kForcePages).
class Checkpointer {
 public:
  static constexpr int kPages = 1000;  // SQLite's default threshold
  static constexpr int kTruncatePages = 2 * kPages;
  static constexpr int kForcePages = 8 * kPages;

  explicit Checkpointer(std::string path) : path_(std::move(path)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // SQLite's WAL hook: called after each commit with the WAL's size.
  static int Hook(void* self, sqlite3* /*db*/, const char* /*schema*/, int pages) {
    auto* c = static_cast<Checkpointer*>(self);
    c->pages_.store(pages, std::memory_order_relaxed);
    if (pages >= kPages) c->Want();
    return SQLITE_OK;
  }
  // The WAL's size after the last commit, in pages.
  int Pages() const { return pages_.load(std::memory_order_relaxed); }

 private:
  void Want() {
    {
      std::lock_guard<std::mutex> l(mu_);
      wanted_ = true;
    }
    cv_.notify_one();
  }

  void Loop() {
    sqlite3* db = nullptr;
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [&] { return wanted_ || stop_; });
      if (stop_) break;
      wanted_ = false;
      l.unlock();
      if (!db && sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 1000);
        // A connection finds the file in WAL mode at its first read; before
        // that a checkpoint does nothing.
        (void)sqlite3_exec(db, "PRAGMA journal_mode", nullptr, nullptr, nullptr);
      }
      // A failure (busy, I/O) is tried again at the next commit's request.
      int frames = 0;
      if (db)
        (void)sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, nullptr);
      // Under steady writes a passive checkpoint never catches up, and the
      // WAL only starts over when one has. Past kTruncatePages the rest is
      // copied when the writers pause (this waits a second for the write
      // lock), and the file is cut to nothing; past kForcePages a writer
      // does it (Commit).
      if (db && frames >= kTruncatePages) {
        (void)sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      }
      l.lock();
    }
    sqlite3_close_v2(db);  // the last connection to close checkpoints the rest
  }

  std::string path_;
  std::atomic<int> pages_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stop_ = false;
  std::thread thread_;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override {
    stmts_.clear();
    sqlite3_wal_hook(db_, nullptr, nullptr);
    sqlite3_close_v2(db_);
    checkpointer_.reset();
  }

  Status Init() {
    sqlite3_busy_timeout(db_, 10000);
    // WAL mode persists in the file; switching needs an exclusive lock, so
    // only the first open of a new store does it.
    std::string mode;
    {
      Use u(S("PRAGMA journal_mode"));
      if (u.Step() == SQLITE_ROW) mode = u.ColText(0);
    }
    if (mode != "wal") STRAKE_TRY(Exec("PRAGMA journal_mode=WAL"));
    STRAKE_TRY(Exec("PRAGMA synchronous=NORMAL"));
    const char* file = sqlite3_db_filename(db_, "main");
    if (file && *file) {
      checkpointer_ = std::make_unique<Checkpointer>(file);
      sqlite3_wal_hook(db_, &Checkpointer::Hook, checkpointer_.get());
    }
    STRAKE_TRY(Exec("PRAGMA foreign_keys=ON"));
    // The version is read under the write lock, so two processes opening a
    // new store do not both migrate it.
    STRAKE_TRY(Exec("BEGIN IMMEDIATE"));
    int version = 0;
    {
      Use u(S("PRAGMA user_version"));
      if (u.Step() == SQLITE_ROW) version = static_cast<int>(u.ColInt(0));
    }
    int target = static_cast<int>(std::size(kMigrations));
    if (version > target) {
      (void)Exec("ROLLBACK");
      return Failf("store schema version {} is newer than this strake ({}); upgrade strake",
                   version, target);
    }
    for (int v = version; v < target; ++v) {
      auto r = Exec(kMigrations[v]);
      if (r) r = Exec("PRAGMA user_version=" + std::to_string(v + 1));
      if (!r) {
        (void)Exec("ROLLBACK");
        return Fail(r.error().Wrap(fmt::format("store migration {}", v + 1)).message);
      }
    }
    STRAKE_TRY(Exec("COMMIT"));
    stmts_.clear();  // Statements prepared before the schema existed are stale.
    return Ok();
  }

  Result<Resource> Create(Resource r, const std::string& reason,
                          const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.uid.empty()) r.uid = NewUid();
    if (r.created_ms == 0) r.created_ms = UnixMillis(std::chrono::system_clock::now());
    r.generation = 1;
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    auto change = AppendChange(r.key, "ADDED", reason, message);
    if (!change) return Abort(change.error());
    r.resource_version = change->revision;
    Use u(
        S("INSERT INTO resources (kind, namespace, name, uid, generation, resource_version, "
          "created_ms, owner, labels, object, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
    u.Text(1, r.key.kind).Text(2, r.key.ns).Text(3, r.key.name).Text(4, r.uid);
    u.Int(5, r.generation).Int(6, r.resource_version).Int(7, r.created_ms).Text(8, r.owner);
    u.Text(9, Text(LabelsJson(r.labels))).Text(10, Text(r.object));
    u.Text(11, r.status.is_null() ? "{}" : Text(r.status));
    int rc = u.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return Abort(Error{fmt::format("{} {} already exists", r.key.kind, r.key.name),
                         ErrorCode::kAlreadyExists});
    }
    if (rc != SQLITE_DONE) return Abort(Err("insert"));
    STRAKE_TRY(Commit());
    Notify(*change);
    return r;
  }

  Result<std::optional<Resource>> Get(const Key& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    Use u(
        S("SELECT kind, namespace, name, uid, generation, resource_version, created_ms, owner, "
          "labels, object, status FROM resources WHERE kind=? AND namespace=? AND name=?"));
    u.Text(1, key.kind).Text(2, key.ns).Text(3, key.name);
    int rc = u.Step();
    if (rc == SQLITE_DONE) return std::optional<Resource>();
    if (rc != SQLITE_ROW) return tl::unexpected(Err("get"));
    return std::optional<Resource>(Row(u));
  }

  Result<std::vector<Resource>> List(const std::string& kind, const std::string& ns,
                                     const std::string& owner) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Resource> out;
    const char* sql =
        "SELECT kind, namespace, name, uid, generation, resource_version, created_ms, owner, "
        "labels, object, status FROM resources WHERE kind=? AND (?='' OR namespace=?) AND "
        "(?='' OR owner=?) ORDER BY created_ms, resource_version";
    Use u(S(sql));
    u.Text(1, kind).Text(2, ns).Text(3, ns).Text(4, owner).Text(5, owner);
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(Row(u));
    if (rc != SQLITE_DONE) return tl::unexpected(Err("list"));
    return out;
  }

  Result<std::vector<Resource>> ListHeads(const std::string& kind, const std::string& ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Resource> out;
    const char* sql =
        "SELECT kind, namespace, name, uid, generation, resource_version, created_ms, owner, "
        "labels FROM resources WHERE kind=? AND (?='' OR namespace=?) "
        "ORDER BY created_ms, resource_version";
    Use u(S(sql));
    u.Text(1, kind).Text(2, ns).Text(3, ns);
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) {
      Resource r = Identity(u);
      r.labels = Labels(u);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return tl::unexpected(Err("list"));
    return out;
  }

  Result<Resource> UpdateStatus(const Key& key, const Json& status, int64_t expected_version,
                                const std::string& reason, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    auto current = CheckVersion(key, expected_version, /*load=*/false);
    if (!current) return Abort(current.error());
    auto change = AppendChange(key, "MODIFIED", reason, message);
    if (!change) return Abort(change.error());
    Use u(
        S("UPDATE resources SET status=?, resource_version=? WHERE kind=? AND namespace=? AND "
          "name=?"));
    u.Text(1, Text(status)).Int(2, change->revision);
    u.Text(3, key.kind).Text(4, key.ns).Text(5, key.name);
    if (u.Step() != SQLITE_DONE) return Abort(Err("update status"));
    STRAKE_TRY(Commit());
    current->status = status;
    current->resource_version = change->revision;
    Notify(*change);
    return *current;
  }

  Result<Resource> Update(const Resource& r, int64_t expected_version) override {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    auto current = CheckVersion(r.key, expected_version);
    if (!current) return Abort(current.error());
    auto spec_of = [](const Json& o) { return o.contains("spec") ? o["spec"] : Json(); };
    int64_t generation = current->generation;
    if (spec_of(current->object) != spec_of(r.object)) ++generation;
    auto change = AppendChange(r.key, "MODIFIED", "Updated", "");
    if (!change) return Abort(change.error());
    Use u(
        S("UPDATE resources SET object=?, labels=?, generation=?, resource_version=? WHERE "
          "kind=? AND namespace=? AND name=?"));
    u.Text(1, Text(r.object)).Text(2, Text(LabelsJson(r.labels)));
    u.Int(3, generation).Int(4, change->revision);
    u.Text(5, r.key.kind).Text(6, r.key.ns).Text(7, r.key.name);
    if (u.Step() != SQLITE_DONE) return Abort(Err("update"));
    STRAKE_TRY(Commit());
    Resource out = *current;
    out.object = r.object;
    out.labels = r.labels;
    out.generation = generation;
    out.resource_version = change->revision;
    Notify(*change);
    return out;
  }

  Status Delete(const Key& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    auto current = CheckVersion(key, 0);
    if (!current) return Abort(current.error());
    auto change = AppendChange(key, "DELETED", "Deleted", "");
    if (!change) return Abort(change.error());
    Use u(S("DELETE FROM resources WHERE kind=? AND namespace=? AND name=?"));
    u.Text(1, key.kind).Text(2, key.ns).Text(3, key.name);
    if (u.Step() != SQLITE_DONE) return Abort(Err("delete"));
    STRAKE_TRY(Commit());
    Notify(*change);
    return Ok();
  }

  Result<std::vector<Change>> ChangesSince(int64_t revision, size_t limit,
                                           const ChangeFilter& filter) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Change> out;
    Use u(
        S("SELECT revision, kind, namespace, name, type, reason, message, time_ms FROM changes "
          "WHERE revision > ?1 AND (?2 = '' OR kind = ?2) AND (?3 = '' OR namespace = ?3) AND "
          "(?4 = '' OR name = ?4) ORDER BY revision LIMIT ?5"));
    u.Int(1, revision).Text(2, filter.kind).Text(3, filter.ns).Text(4, filter.name);
    u.Int(5, static_cast<int64_t>(limit));
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) {
      out.push_back(Change{u.ColInt(0),
                           {u.ColText(1), u.ColText(2), u.ColText(3)},
                           u.ColText(4),
                           u.ColText(5),
                           u.ColText(6),
                           u.ColInt(7)});
    }
    if (rc != SQLITE_DONE) return tl::unexpected(Err("changes"));
    return out;
  }

  Result<int64_t> Revision() override {
    std::lock_guard<std::mutex> lock(mu_);
    Use u(S("SELECT COALESCE(MAX(revision), 0) FROM changes"));
    if (u.Step() != SQLITE_ROW) return tl::unexpected(Err("revision"));
    return u.ColInt(0);
  }

  void Subscribe(std::function<void(const Change&)> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    subscribers_.push_back(std::move(fn));
  }

  Result<bool> MarkOnce(const std::string& scope, const std::string& id, int64_t time_ms,
                        int64_t since_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    {
      Use u(S("DELETE FROM once_ids WHERE scope=? AND time_ms<?"));
      u.Text(1, scope).Int(2, since_ms);
      if (u.Step() != SQLITE_DONE) return Abort(Err("expire once ids"));
    }
    Use u(S("INSERT INTO once_ids (scope, id, time_ms) VALUES (?,?,?) ON CONFLICT DO NOTHING"));
    u.Text(1, scope).Text(2, id).Int(3, time_ms);
    if (u.Step() != SQLITE_DONE) return Abort(Err("mark once id"));
    bool marked = sqlite3_changes(db_) == 1;
    STRAKE_TRY(Commit());
    return marked;
  }

  Status UnmarkOnce(const std::string& scope, const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Use u(S("DELETE FROM once_ids WHERE scope=? AND id=?"));
    u.Text(1, scope).Text(2, id);
    if (u.Step() != SQLITE_DONE) return tl::unexpected(Err("unmark once id"));
    return Ok();
  }

  Status PutDeployments(const std::vector<DeploymentRecord>& records) override {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(Run("BEGIN IMMEDIATE"));
    for (const DeploymentRecord& d : records) {
      auto put = PutDeployment(d);
      if (!put) return Abort(put.error());
    }
    return Commit();
  }

  Result<std::optional<DeploymentRecord>> GetDeployment(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetLocked(id);
  }

  Status ForEachDeployment(const DeploymentFilter& filter,
                           const std::function<bool(DeploymentRecord&)>& fn) override {
    int64_t after = 0;
    for (;;) {
      std::vector<DeploymentRecord> page;
      {
        std::lock_guard<std::mutex> lock(mu_);
        Use u(S(DORA_SELECT "WHERE seq>?1 AND (?2='' OR namespace=?2) AND ((finished_ms>=?3 AND "
                            "finished_ms<=?4) OR (restored_ms>=?3 AND restored_ms<=?4)) ORDER BY "
                            "seq LIMIT 4096"));
        u.Int(1, after).Text(2, filter.ns).Int(3, filter.from_ms).Int(4, filter.to_ms);
        STRAKE_TRY_ASSIGN(last, ReadDeployments(u, page));
        after = last;
      }
      if (page.empty()) return Ok();
      for (DeploymentRecord& d : page) {
        if (!fn(d)) return Ok();
      }
    }
  }

  Result<std::optional<DeploymentRecord>> LastDeploymentAt(
      const std::string& ns, const std::string& environment, int64_t at_ms,
      const std::string& except, const std::vector<std::string>& revisions) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<std::string> id;
    {
      // Newest first, by the index; the first of a wanted revision.
      Use u(
          S("SELECT id, revision FROM dora_deployments WHERE namespace=? AND environment=? "
            "AND finished_ms<=? AND id!=? ORDER BY finished_ms DESC, seq DESC"));
      u.Text(1, ns).Text(2, environment).Int(3, at_ms).Text(4, except);
      int rc;
      while ((rc = u.Step()) == SQLITE_ROW) {
        const std::string revision = u.ColText(1);
        if (revisions.empty() ||
            std::find(revisions.begin(), revisions.end(), revision) != revisions.end()) {
          id = u.ColText(0);
          break;
        }
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return tl::unexpected(Err("last deployment"));
    }
    if (!id) return std::optional<DeploymentRecord>();
    return GetLocked(*id);
  }

  Result<std::optional<DeploymentRecord>> FirstDeploymentFrom(const std::string& ns,
                                                              const std::string& environment,
                                                              int64_t at_ms,
                                                              const std::string& except) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<std::string> id;
    {
      Use u(
          S("SELECT id FROM dora_deployments WHERE namespace=? AND environment=? AND "
            "finished_ms>=? AND id!=? ORDER BY finished_ms, seq LIMIT 1"));
      u.Text(1, ns).Text(2, environment).Int(3, at_ms).Text(4, except);
      const int rc = u.Step();
      if (rc == SQLITE_ROW) id = u.ColText(0);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return tl::unexpected(Err("next deployment"));
    }
    if (!id) return std::optional<DeploymentRecord>();
    return GetLocked(*id);
  }

  Result<std::vector<DeploymentRecord>> FailuresOpenAt(const std::string& ns,
                                                       const std::string& environment,
                                                       int64_t at_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    // Not restored, or restored after at_ms: two ranges of the index.
    Use u(S(DORA_SELECT
            "WHERE namespace=?1 AND environment=?2 AND failed_ms IS NOT NULL AND "
            "restored_ms IS NULL AND failed_ms<=?3 AND incident='' UNION ALL " DORA_SELECT
            "WHERE namespace=?1 AND environment=?2 AND failed_ms IS NOT NULL AND "
            "restored_ms>?3 AND failed_ms<=?3 AND incident='' ORDER BY seq"));
    u.Text(1, ns).Text(2, environment).Int(3, at_ms);
    std::vector<DeploymentRecord> out;
    STRAKE_TRY(ReadDeployments(u, out));
    return out;
  }

  Result<std::optional<DeploymentRecord>> FirstBringing(const std::string& ns,
                                                        const std::string& environment,
                                                        const std::string& sha) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<std::string> id;
    {
      Use u(
          S("SELECT d.id FROM dora_changes c CROSS JOIN dora_deployments d ON d.seq=c.seq WHERE "
            "c.sha>=?1 AND c.sha<?4 AND d.namespace=?2 AND (?3='' OR d.environment=?3) "
            "ORDER BY d.tier!='production', d.finished_ms, d.seq LIMIT 1"));
      // A prefix: every SHA that starts with it sorts below it + 'g'. The
      // changes first, by their SHA's index (CROSS JOIN keeps that order:
      // the planner preferred a walk of the namespace's deployments).
      u.Text(1, sha).Text(2, ns).Text(3, environment).Text(4, sha + "g");
      const int rc = u.Step();
      if (rc == SQLITE_ROW) id = u.ColText(0);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return tl::unexpected(Err("deployment of a commit"));
    }
    if (!id) return std::optional<DeploymentRecord>();
    return GetLocked(*id);
  }

  Result<std::vector<DeploymentRecord>> DeploymentsFinishedIn(const std::string& ns,
                                                              const std::string& environment,
                                                              int64_t from_ms,
                                                              int64_t to_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    // In seq order, as ReadDeployments reads them.
    Use u(S(DORA_SELECT "WHERE namespace=? AND environment=? AND finished_ms>=? AND "
                        "finished_ms<=? ORDER BY seq"));
    u.Text(1, ns).Text(2, environment).Int(3, from_ms).Int(4, to_ms);
    std::vector<DeploymentRecord> out;
    STRAKE_TRY(ReadDeployments(u, out));
    return out;
  }

  Result<std::vector<std::string>> IncidentsMarking() override {
    std::lock_guard<std::mutex> lock(mu_);
    Use u(
        S("SELECT incident FROM dora_deployments WHERE incident!='' UNION SELECT rework_by "
          "FROM dora_deployments WHERE rework_by!='' ORDER BY 1"));
    std::vector<std::string> out;
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(u.ColText(0));
    if (rc != SQLITE_DONE) return tl::unexpected(Err("incidents failing deployments"));
    return out;
  }

  Result<std::vector<DeploymentRecord>> MarkedByIncident(const std::string& incident) override {
    std::lock_guard<std::mutex> lock(mu_);
    Use u(S(DORA_SELECT "WHERE (incident=?1 AND incident!='') OR (rework_by=?1 AND rework_by!='') "
                        "ORDER BY seq"));
    u.Text(1, incident);
    std::vector<DeploymentRecord> out;
    STRAKE_TRY(ReadDeployments(u, out));
    return out;
  }

 private:
  sqlite3_stmt* S(const char* sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) it = stmts_.emplace(sql, std::make_unique<Stmt>(db_, sql)).first;
    return it->second->get();
  }

  Error Err(const char* what) {
    return Error{fmt::format("store: {}: {}", what, sqlite3_errmsg(db_)),
                 CodeOf(sqlite3_errcode(db_))};
  }

  Status Exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : "unknown error";
      sqlite3_free(msg);
      return Failf(CodeOf(sqlite3_errcode(db_)), "store: {}", m);
    }
    return Ok();
  }

  // The transaction's fixed statements, prepared once: sqlite3_exec parsed
  // BEGIN and COMMIT again on every write (a twelfth of the engine's own CPU
  // in a 2,000-task run).
  Status Run(const char* sql) {
    Use u(S(sql));
    int rc = u.Step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Ok();
    return tl::unexpected(Err(sql));
  }

  Status Commit() {
    auto r = Run("COMMIT");
    if (!r) {
      (void)Run("ROLLBACK");
      return r;
    }
    // Writes so steady the checkpointer never found a pause: this one
    // waits for the WAL to be copied back, so the file stays bounded.
    if (checkpointer_ && checkpointer_->Pages() >= Checkpointer::kForcePages) {
      // BUSY while the checkpointer's own pass runs (it takes no busy
      // handler); the store's mutex keeps this process's writers out.
      for (int i = 0; i < 200; ++i) {
        int rc =
            sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
        if (rc != SQLITE_BUSY) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    return r;
  }

  // Rolls the write back; the error keeps its code (conflict, not found...).
  tl::unexpected<Error> Abort(Error e) {
    (void)Run("ROLLBACK");
    return tl::unexpected(std::move(e));
  }

  Result<std::optional<DeploymentRecord>> GetLocked(const std::string& id) {
    Use u(S(DORA_SELECT "WHERE id=?"));
    u.Text(1, id);
    std::vector<DeploymentRecord> got;
    STRAKE_TRY(ReadDeployments(u, got));
    if (got.empty()) return std::optional<DeploymentRecord>();
    return std::optional<DeploymentRecord>(std::move(got[0]));
  }

  // Writes one record and its changes, inside the caller's transaction.
  Status PutDeployment(const DeploymentRecord& d) {
    int64_t seq = 0;
    {
      Use u(
          S("INSERT INTO dora_deployments (id, namespace, environment, tier, revision, heads, "
            "finished_ms, unplanned, failed_ms, restored_ms, failure, changes_known, incident, "
            "rework_by) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) ON CONFLICT(id) "
            "DO UPDATE SET namespace=?2, environment=?3, tier=?4, revision=?5, heads=?6, "
            "finished_ms=?7, unplanned=?8, failed_ms=?9, restored_ms=?10, failure=?11, "
            "changes_known=?12, incident=?13, rework_by=?14 RETURNING seq"));
      Json heads = Json::array();
      for (const auto& h : d.heads) heads.push_back({h.repo_url, h.sha});
      u.Text(1, d.id).Text(2, d.ns).Text(3, d.environment).Text(4, d.tier).Text(5, d.revision);
      u.Text(6, Text(heads)).Int(7, d.finished_ms).Int(8, d.unplanned ? 1 : 0);
      u.OptInt(9, d.failed_ms).OptInt(10, d.restored_ms).Text(11, d.failure);
      u.Int(12, d.changes_known ? 1 : 0).Text(13, d.incident).Text(14, d.rework_by);
      if (u.Step() != SQLITE_ROW) return tl::unexpected(Err("put deployment"));
      seq = u.ColInt(0);
    }
    {
      Use u(S("DELETE FROM dora_changes WHERE seq=?"));
      u.Int(1, seq);
      if (u.Step() != SQLITE_DONE) return tl::unexpected(Err("put deployment's changes"));
    }
    for (const auto& c : d.changes) {
      Use u(S("INSERT OR REPLACE INTO dora_changes (seq, sha, committed_ms) VALUES (?,?,?)"));
      u.Int(1, seq).Text(2, c.sha).Int(3, c.committed_ms);
      if (u.Step() != SQLITE_DONE) return tl::unexpected(Err("put deployment's changes"));
    }
    return Ok();
  }

  // One row of DORA_SELECT.
  static DeploymentRecord DeploymentRow(Use& rows) {
    DeploymentRecord d;
    d.id = rows.ColText(1);
    d.ns = rows.ColText(2);
    d.environment = rows.ColText(3);
    d.tier = rows.ColText(4);
    d.revision = rows.ColText(5);
    const Json heads = Json::parse(rows.ColText(6), nullptr, false);
    if (heads.is_array()) {
      for (const Json& h : heads) {
        if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string())
          d.heads.push_back({h[0].get<std::string>(), h[1].get<std::string>()});
      }
    }
    d.finished_ms = rows.ColInt(7);
    d.unplanned = rows.ColInt(8) != 0;
    d.failed_ms = rows.ColOptInt(9);
    d.restored_ms = rows.ColOptInt(10);
    d.failure = rows.ColText(11);
    d.changes_known = rows.ColInt(12) != 0;
    d.incident = rows.ColText(13);
    d.rework_by = rows.ColText(14);
    return d;
  }

  // Appends the records a bound DORA_SELECT returns, in seq order, with
  // their changes; returns the last one's seq (0: none).
  Result<int64_t> ReadDeployments(Use& rows, std::vector<DeploymentRecord>& out) {
    const size_t first = out.size();
    std::vector<int64_t> seqs;
    int rc;
    while ((rc = rows.Step()) == SQLITE_ROW) {
      seqs.push_back(rows.ColInt(0));
      out.push_back(DeploymentRow(rows));
    }
    if (rc != SQLITE_DONE) return tl::unexpected(Err("deployments"));
    if (seqs.empty()) return 0;
    // Dense seqs (a walk of every record): one range scan of the changes;
    // sparse ones (a filtered walk), or any out of order, one lookup each.
    if (!std::is_sorted(seqs.begin(), seqs.end()) ||
        seqs.back() - seqs.front() >= 2 * static_cast<int64_t>(seqs.size())) {
      for (size_t i = 0; i < seqs.size(); ++i) {
        Use u(S("SELECT sha, committed_ms FROM dora_changes WHERE seq=?"));
        u.Int(1, seqs[i]);
        while ((rc = u.Step()) == SQLITE_ROW)
          out[first + i].changes.push_back({u.ColText(0), u.ColInt(1)});
        if (rc != SQLITE_DONE) return tl::unexpected(Err("deployment's changes"));
      }
      return seqs.back();
    }
    Use u(
        S("SELECT seq, sha, committed_ms FROM dora_changes WHERE seq>=? AND seq<=? "
          "ORDER BY seq"));
    u.Int(1, seqs.front()).Int(2, seqs.back());
    size_t i = 0;
    while ((rc = u.Step()) == SQLITE_ROW) {
      const int64_t seq = u.ColInt(0);
      while (i < seqs.size() && seqs[i] < seq) ++i;
      if (i < seqs.size() && seqs[i] == seq)
        out[first + i].changes.push_back({u.ColText(1), u.ColInt(2)});
    }
    if (rc != SQLITE_DONE) return tl::unexpected(Err("deployments' changes"));
    return seqs.back();
  }

  Result<Change> AppendChange(const Key& key, const std::string& type, const std::string& reason,
                              const std::string& message) {
    Change c{0, key, type, reason, message, UnixMillis(std::chrono::system_clock::now())};
    Use u(
        S("INSERT INTO changes (kind, namespace, name, type, reason, message, time_ms) VALUES "
          "(?,?,?,?,?,?,?)"));
    u.Text(1, key.kind).Text(2, key.ns).Text(3, key.name).Text(4, type).Text(5, reason);
    u.Text(6, message).Int(7, c.time_ms);
    if (u.Step() != SQLITE_DONE) return tl::unexpected(Err("append change"));
    c.revision = sqlite3_last_insert_rowid(db_);
    return c;
  }

  // The row's identity and version; with load, also its labels, object and
  // status (parsing them is most of a status write's cost, so only on demand).
  Result<Resource> CheckVersion(const Key& key, int64_t expected_version, bool load = true) {
    Use u(S(load ? "SELECT kind, namespace, name, uid, generation, resource_version, created_ms, "
                   "owner, labels, object, status FROM resources WHERE kind=? AND namespace=? AND "
                   "name=?"
                 : "SELECT kind, namespace, name, uid, generation, resource_version, created_ms, "
                   "owner FROM resources WHERE kind=? AND namespace=? AND name=?"));
    u.Text(1, key.kind).Text(2, key.ns).Text(3, key.name);
    int rc = u.Step();
    if (rc == SQLITE_DONE)
      return Failf(ErrorCode::kNotFound, "{} {} not found", key.kind, key.name);
    if (rc != SQLITE_ROW) return tl::unexpected(Err("read"));
    Resource r = load ? Row(u) : Identity(u);
    if (expected_version != 0 && r.resource_version != expected_version) {
      return Failf(ErrorCode::kConflict, "{} {}: conflict: resourceVersion is {}, expected {}",
                   key.kind, key.name, r.resource_version, expected_version);
    }
    return r;
  }

  static Resource Identity(Use& u) {
    Resource r;
    r.key = {u.ColText(0), u.ColText(1), u.ColText(2)};
    r.uid = u.ColText(3);
    r.generation = u.ColInt(4);
    r.resource_version = u.ColInt(5);
    r.created_ms = u.ColInt(6);
    r.owner = u.ColText(7);
    return r;
  }

  static std::map<std::string, std::string> Labels(Use& u) {
    std::map<std::string, std::string> out;
    Json labels = Json::parse(u.ColText(8), nullptr, false);
    if (labels.is_object()) {
      for (const auto& [k, v] : labels.items())
        if (v.is_string()) out[k] = v.get<std::string>();
    }
    return out;
  }

  static Resource Row(Use& u) {
    Resource r = Identity(u);
    r.labels = Labels(u);
    r.object = Json::parse(u.ColText(9), nullptr, false);
    r.status = Json::parse(u.ColText(10), nullptr, false);
    return r;
  }

  void Notify(const Change& c) {
    for (const auto& fn : subscribers_) fn(c);
  }

  sqlite3* db_;
  std::unique_ptr<Checkpointer> checkpointer_;  // none for an in-memory store
  std::mutex mu_;
  std::unordered_map<const char*, std::unique_ptr<Stmt>> stmts_;
  std::vector<std::function<void(const Change&)>> subscribers_;
};

}  // namespace

static Result<StorePtr> OpenOnce(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Failf(CodeOf(rc), "open store {}: {}", path, msg);
  }
  auto store = std::make_unique<SqliteStore>(db);
  auto init = store->Init();
  if (!init) return tl::unexpected(init.error().Wrap("open store " + path));
  return StorePtr(std::move(store));
}

Result<StorePtr> OpenSqliteStore(const std::string& path) {
  // SQLite answers BUSY without waiting while another process sets up a new
  // store (WAL recovery, the journal mode switch): retry for a few seconds.
  for (int attempt = 0;; ++attempt) {
    auto s = OpenOnce(path);
    bool busy = !s && s.error().Is(ErrorCode::kUnavailable);
    if (!busy || attempt >= 100) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + attempt * 5));
  }
}

}  // namespace strake::store
