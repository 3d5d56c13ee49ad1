// Audit: an append-only log of every change made through strake, each
// entry carrying the hash of the one before, so that an edited, removed,
// inserted or reordered entry is detected (Verify).
//
// One JSON object per line in DATA_DIR/audit.log:
//   {"seq":N,"time":"…","actor":"…","action":"…","target":"…","detail":"…",
//    "intent":"<id, for a change recorded through Begin>",
//    "prev":"<hash of entry N-1>","hash":"<sha256 of prev + the entry without hash>"}
//
// A change gets its entry only once it is made, and none made goes
// unrecorded, kill -9 included. Begin writes and fsyncs the change's intent
// to DATA_DIR/audit.log.intents before the change (a change whose intent
// cannot be written is refused); Finish appends the entry if the change was
// made and drops the intent if not. A crash between the two leaves the
// intent, and the next Open turns each intent that has no entry into one
// marked "interrupted" (the change may not have been made; the store's event
// log tells). An entry names its intent, so one written just before a crash
// is not written twice. Why not the alternatives: the entry before the
// change left entries for writes that then failed (a conflict, a refused
// object, a full disk); the entry after the change alone loses the record
// of a change made just before a crash; one transaction with the store does
// not fit a request that makes several store writes or none (a rollout
// action), and the chain is a file of its own that can be verified and
// shipped without the store.
//
// Both files are synced by group commit (base/group_sync.h): changes made at
// once share their fdatasyncs, so 20 concurrent writers pay about two per
// file per round, not forty.
//
// Append records what needs no intent: a refusal, a webhook delivery. A
// line left half-written by a crash was never acknowledged and is cut off
// when the log is opened. An entry whose append failed (a full disk) after
// its change was made is written before the next one, or at the next Open.
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/group_sync.h"
#include "base/result.h"
#include "store/store.h"

namespace strake::server {

struct AuditEntry {
  std::string actor;   // "token:ab12cd34 (admin)", "webhook:github", "controller"
  std::string action;  // "PATCH", "sync", "token.create", "webhook", ...
  std::string target;  // "/apis/.../rollouts/web", "application default/shop"
  std::string detail;  // outcome or parameters; never a secret
};

struct AuditVerdict {
  bool ok = true;
  int64_t entries = 0;
  std::string problem;  // where the chain breaks
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // A change about to be made: its intent is durable when this returns (the
  // change must not be made if it fails). Returns the intent's id for Finish.
  Result<std::string> Begin(const AuditEntry& e);
  // The change of `intent` was made (its entry is appended, with `detail`
  // instead of Begin's when not empty) or not (no entry).
  Status Finish(const std::string& intent, bool made, const std::string& detail = "");
  // An entry for what has happened (a refusal, a delivery).
  Status Append(const AuditEntry& e);
  // Entries at or after `since_ms` (0: all), oldest first, at most `limit`
  // (the newest ones).
  Result<std::vector<store::Json>> Read(int64_t since_ms, size_t limit) const;
  // Checks the whole chain of the file at `path`.
  static AuditVerdict Verify(const std::string& path);
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd, int64_t seq, std::string last, int intents_fd)
      : path_(std::move(path)),
        intents_path_(path_ + ".intents"),
        fd_(fd),
        intents_fd_(intents_fd),
        seq_(seq),
        last_(std::move(last)),
        log_sync_(fd_, path_),
        intents_sync_(intents_fd_, intents_path_) {}
  // Writes an entry (not yet synced): its ticket for log_sync_.
  Result<uint64_t> AppendLocked(const AuditEntry& e, const std::string& intent);
  // Writes the entries owed (changes made whose append failed), in order;
  // their intents are settled once the entries are on disk.
  Status PayOwedLocked();
  // Waits, without mu_, until the entries up to `ticket` are on disk, then
  // settles the intents whose entries are.
  Status SyncEntries(uint64_t ticket);
  void SettleDurableLocked();
  // The intent is settled: the journal is emptied when none is open.
  void SettleLocked(const std::string& intent);
  // Open: the intents a crash left without their entry are recorded.
  Status RecoverIntents(const std::string& log_text);

  std::string path_;
  std::string intents_path_;
  int fd_;
  int intents_fd_;
  mutable std::mutex mu_;
  int64_t seq_;
  std::string last_;                                      // hash of the last entry
  std::map<std::string, AuditEntry> open_;                // begun, not finished
  std::vector<std::pair<std::string, AuditEntry>> owed_;  // made, entry not yet written
  // Entries written and not yet known to be on disk: (ticket, intent).
  std::vector<std::pair<uint64_t, std::string>> unsettled_;
  uint64_t last_ticket_ = 0;
  // Group commit: concurrent changes share their fdatasyncs (both files).
  GroupSync log_sync_;
  GroupSync intents_sync_;
};

// The hash an entry must carry (over its fields but "hash").
std::string AuditHash(const store::Json& entry_without_hash);

}  // namespace strake::server
