#include "server/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace strake::server {

using store::Json;

namespace {

constexpr const char* kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

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
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd, seq, last));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status AuditLog::Append(const AuditEntry& e) {
  std::lock_guard<std::mutex> lock(mu_);
  Json body = {{"seq", seq_ + 1},
               {"time", FormatRfc3339(std::chrono::system_clock::now())},
               {"timeMs", UnixMillis(std::chrono::system_clock::now())},
               {"actor", e.actor},
               {"action", e.action},
               {"target", e.target},
               {"detail", e.detail},
               {"prev", last_}};
  std::string hash = AuditHash(body);
  Json full = body;
  full["hash"] = hash;
  std::string line = full.dump() + "\n";
  // A write that fails part-way (a full disk) is cut back to the last whole
  // entry: the next one must not be glued to half a line.
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Failf("audit log {}: {}", path_, std::strerror(errno));
  auto fail = [&](int err) {
    (void)!::ftruncate(fd_, st.st_size);
    return Failf(ErrorCode::kUnavailable, "audit log {}: {}", path_, std::strerror(err));
  };
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return fail(errno);
  ++seq_;
  last_ = hash;
  return Ok();
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
