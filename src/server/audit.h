// Audit: an append-only log of every change made through strake, each
// entry carrying the hash of the one before, so that an edited, removed,
// inserted or reordered entry is detected (Verify).
//
// One JSON object per line in DATA_DIR/audit.log:
//   {"seq":N,"time":"…","actor":"…","action":"…","target":"…","detail":"…",
//    "prev":"<hash of entry N-1>","hash":"<sha256 of prev + the entry without hash>"}
// An entry is written and fsynced before the action it records: an action
// whose entry cannot be written is refused. A line left half-written by a
// crash was never acknowledged and is cut off when the log is opened.
// Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

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

  Status Append(const AuditEntry& e);
  // Entries at or after `since_ms` (0: all), oldest first, at most `limit`
  // (the newest ones).
  Result<std::vector<store::Json>> Read(int64_t since_ms, size_t limit) const;
  // Checks the whole chain of the file at `path`.
  static AuditVerdict Verify(const std::string& path);
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd, int64_t seq, std::string last)
      : path_(std::move(path)), fd_(fd), seq_(seq), last_(std::move(last)) {}
  std::string path_;
  int fd_;
  mutable std::mutex mu_;
  int64_t seq_;
  std::string last_;  // hash of the last entry
};

// The hash an entry must carry (over its fields but "hash").
std::string AuditHash(const store::Json& entry_without_hash);

}  // namespace strake::server
