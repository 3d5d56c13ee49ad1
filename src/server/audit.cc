#include "server/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::server {

using store::Json;

namespace {

constexpr const char* kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr const char* kInterrupted =
    "interrupted: strake stopped while this change was being made; it may not have been made";

// Writes `line` at the end of fd; the caller syncs it through its GroupSync.
// A write that fails part-way (a full disk) is cut back: the next line must
// not be glued to half a one.
Status WriteLine(int fd, const std::string& path, const std::string& line) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Failf("audit log {}: {}", path, std::strerror(errno));
  auto fail = [&](int err) {
    (void)!::ftruncate(fd, st.st_size);
    return Failf(ErrorCode::kUnavailable, "audit log {}: {}", path, std::strerror(err));
  };
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  return Ok();
}

// The JSON objects of a text of lines; a line that is not one (half written
// by a crash) is passed over.
std::vector<Json> JsonLines(const std::string& text) {
  std::vector<Json> out;
  for (const auto& line : Split(text, '\n')) {
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::string AuditHash(const Json& entry_without_hash) {
  return Sha256Hex(entry_without_hash.dump());
}

AuditVerdict AuditLog::Verify(const std::string& path) {
  AuditVerdict v;
  auto text = ReadFile(path);
  if (!text) {
    v.ok = false;
    v.problem = text.error().message;
    return v;
  }
  std::string prev = kGenesis;
  int64_t expect = 1;
  int line_no = 0;
  for (const auto& line : Split(*text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    Json e = Json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("hash") || !e["hash"].is_string()) {
      v.ok = false;
      v.problem = fmt::format("line {}: not an audit entry", line_no);
      return v;
    }
    std::string hash = e["hash"];
    Json body = e;
    body.erase("hash");
    if (body.value("prev", "") != prev) {
      v.ok = false;
      v.problem = fmt::format(
          "line {} (seq {}): does not follow the entry before it: an entry was removed, "
          "inserted or reordered",
          line_no, body.value("seq", int64_t{0}));
      return v;
    }
    if (AuditHash(body) != hash) {
      v.ok = false;
      v.problem = fmt::format("line {} (seq {}): its content does not match its hash: edited",
                              line_no, body.value("seq", int64_t{0}));
      return v;
    }
    if (body.value("seq", int64_t{0}) != expect) {
      v.ok = false;
      v.problem = fmt::format("line {}: sequence {} where {} was due", line_no,
                              body.value("seq", int64_t{0}), expect);
      return v;
    }
    prev = hash;
    ++expect;
    ++v.entries;
  }
  return v;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  std::string text;
  if (PathExists(path)) {
    STRAKE_TRY_ASSIGN(t, ReadFile(path));
    text = std::move(t);
    // A crash can leave half a line: it was never acknowledged.
    if (!text.empty() && text.back() != '\n') {
      size_t keep = text.rfind('\n');
      keep = keep == std::string::npos ? 0 : keep + 1;
      if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0)
        return Failf("{}: {}", path, std::strerror(errno));
      text.resize(keep);
    }
  }
  int64_t seq = 0;
  std::string last = kGenesis;
  if (!text.empty()) {
    auto end = text.find_last_not_of('\n');
    auto start = text.rfind('\n', end);
    start = start == std::string::npos ? 0 : start + 1;
    Json e = Json::parse(text.substr(start, end - start + 1), nullptr, false);
    if (e.is_discarded() || !e.is_object())
      return Failf("{}: the last entry is not JSON; the log was tampered with", path);
    seq = e.value("seq", int64_t{0});
    last = e.value("hash", "");
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Failf("{}: {}", path, std::strerror(errno));
  std::string intents = path + ".intents";
  int intents_fd = ::open(intents.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (intents_fd < 0) {
    int err = errno;
    ::close(fd);
    return Failf("{}: {}", intents, std::strerror(err));
  }
  std::unique_ptr<AuditLog> log(new AuditLog(path, fd, seq, last, intents_fd));
  STRAKE_TRY(log->RecoverIntents(text));
  return log;
}

Status AuditLog::RecoverIntents(const std::string& log_text) {
  STRAKE_TRY_ASSIGN(journal, ReadFile(intents_path_));
  std::vector<Json> left;  // begun and not settled, in the order begun
  for (auto& j : JsonLines(journal)) {
    if (j.contains("done")) {
      std::erase_if(left, [&](const Json& b) { return b.value("intent", "") == j["done"]; });
    } else if (j.contains("intent")) {
      left.push_back(std::move(j));
    }
  }
  if (!left.empty()) {
    // An entry appended just before the crash already names its intent.
    for (const auto& e : JsonLines(log_text)) {
      std::string id = e.value("intent", "");
      if (!id.empty())
        std::erase_if(left, [&](const Json& b) { return b.value("intent", "") == id; });
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& b : left) {
    std::string detail = b.value("detail", "");
    AuditEntry e{b.value("actor", ""), b.value("action", ""), b.value("target", ""),
                 detail.empty() ? kInterrupted : detail + "; " + kInterrupted};
    STRAKE_TRY_ASSIGN(ticket, AppendLocked(e, b.value("intent", "")));
    STRAKE_TRY(log_sync_.Durable(ticket));
  }
  if (::ftruncate(intents_fd_, 0) != 0) return Failf("{}: {}", intents_path_, std::strerror(errno));
  return Ok();
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
  if (intents_fd_ >= 0) ::close(intents_fd_);
}

Result<uint64_t> AuditLog::AppendLocked(const AuditEntry& e, const std::string& intent) {
  Json body = {{"seq", seq_ + 1},
               {"time", FormatRfc3339(std::chrono::system_clock::now())},
               {"timeMs", UnixMillis(std::chrono::system_clock::now())},
               {"actor", e.actor},
               {"action", e.action},
               {"target", e.target},
               {"detail", e.detail}};
  if (!intent.empty()) body["intent"] = intent;
  body["prev"] = last_;
  std::string hash = AuditHash(body);
  Json full = body;
  full["hash"] = hash;
  STRAKE_TRY(WriteLine(fd_, path_, full.dump() + "\n"));
  ++seq_;
  last_ = hash;
  last_ticket_ = log_sync_.Wrote();
  return last_ticket_;
}

Status AuditLog::PayOwedLocked() {
  while (!owed_.empty()) {
    STRAKE_TRY_ASSIGN(ticket, AppendLocked(owed_.front().second, owed_.front().first));
    unsettled_.emplace_back(ticket, owed_.front().first);
    owed_.erase(owed_.begin());
  }
  return Ok();
}

void AuditLog::SettleDurableLocked() {
  uint64_t durable = log_sync_.durable();
  while (!unsettled_.empty() && unsettled_.front().first <= durable) {
    std::string id = std::move(unsettled_.front().second);
    unsettled_.erase(unsettled_.begin());
    SettleLocked(id);
  }
}

void AuditLog::SettleLocked(const std::string& intent) {
  // Not synced: a kill -9 keeps what was written. An OS crash that loses it
  // at worst records an unmade change as interrupted.
  if (open_.empty() && owed_.empty() && unsettled_.empty()) {
    (void)!::ftruncate(intents_fd_, 0);
    return;
  }
  std::string line = Json{{"done", intent}}.dump() + "\n";
  (void)!::write(intents_fd_, line.data(), line.size());
}

Status AuditLog::Append(const AuditEntry& e) {
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    STRAKE_TRY(PayOwedLocked());
    STRAKE_TRY_ASSIGN(t, AppendLocked(e, ""));
    ticket = t;
  }
  return SyncEntries(ticket);
}

Status AuditLog::SyncEntries(uint64_t ticket) {
  // Outside mu_: the writers that come meanwhile share the next sync.
  Status st = log_sync_.Durable(ticket);
  std::lock_guard<std::mutex> lock(mu_);
  SettleDurableLocked();
  return st;
}

Result<std::string> AuditLog::Begin(const AuditEntry& e) {
  std::string id = NewUid();
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A log that cannot take the entries it owes takes no new change.
    STRAKE_TRY(PayOwedLocked());
    Json intent = {{"intent", id},       {"timeMs", UnixMillis(std::chrono::system_clock::now())},
                   {"actor", e.actor},   {"action", e.action},
                   {"target", e.target}, {"detail", e.detail}};
    STRAKE_TRY(WriteLine(intents_fd_, intents_path_, intent.dump() + "\n"));
    ticket = intents_sync_.Wrote();
    open_[id] = e;
  }
  // The change may be made only once its intent is on disk.
  if (auto st = intents_sync_.Durable(ticket); !st) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(id);
    SettleLocked(id);
    return tl::unexpected(st.error());
  }
  return id;
}

Status AuditLog::Finish(const std::string& intent, bool made, const std::string& detail) {
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(intent);
    if (it == open_.end()) return Failf("audit log {}: no change {} in progress", path_, intent);
    AuditEntry e = std::move(it->second);
    open_.erase(it);
    if (!made) {
      SettleLocked(intent);
      return Ok();
    }
    if (!detail.empty()) e.detail = detail;
    // Kept until written: a failed append is retried before the next entry.
    owed_.emplace_back(intent, std::move(e));
    STRAKE_TRY(PayOwedLocked());
    ticket = last_ticket_;
  }
  return SyncEntries(ticket);
}

Result<std::vector<Json>> AuditLog::Read(int64_t since_ms, size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY_ASSIGN(text, ReadFile(path_));
  std::vector<Json> out;
  for (const auto& line : Split(text, '\n')) {
    if (line.empty()) continue;
    Json e = Json::parse(line, nullptr, false);
    if (e.is_discarded()) continue;
    if (e.value("timeMs", int64_t{0}) < since_ms) continue;
    out.push_back(std::move(e));
  }
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
  return out;
}

}  // namespace strake::server
