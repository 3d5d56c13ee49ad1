#include "base/mask.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/sha256.h"
#include "base/strings.h"

namespace strake {

namespace {

constexpr std::string_view kMask = "***";

// The characters of base64(secret) that do not depend on the bytes around
// it, when the secret starts `offset` bytes into a 3-byte group.
std::string Base64Core(std::string_view secret, size_t offset) {
  std::string padded(offset, '\0');
  padded.append(secret);
  std::string enc = Base64Encode(padded);
  while (!enc.empty() && enc.back() == '=') enc.pop_back();
  // The last character of an incomplete group mixes in the next byte.
  if (padded.size() % 3 != 0 && !enc.empty()) enc.pop_back();
  size_t lead = offset == 0 ? 0 : offset == 1 ? 2 : 3;  // chars mixing in the prefix
  return lead < enc.size() ? enc.substr(lead) : "";
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

bool SecretMasker::Add(std::string_view secret) {
  if (secret.size() < kMinSecretLength) return false;
  std::vector<std::string> forms = {std::string(secret), UrlEncode(secret)};
  for (size_t offset = 0; offset < 3; ++offset) forms.push_back(Base64Core(secret, offset));
  if (secret.find('\n') != std::string_view::npos) {
    for (auto line : Split(secret, '\n')) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      forms.push_back(line);
    }
  }
  for (auto& f : forms) {
    if (f.size() < kMinSecretLength) continue;
    if (std::find(patterns_.begin(), patterns_.end(), f) != patterns_.end()) continue;
    longest_ = std::max(longest_, f.size());
    patterns_.push_back(std::move(f));
  }
  // Longest first: a form that contains another is replaced whole.
  std::sort(patterns_.begin(), patterns_.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return true;
}

void SecretMasker::Drain(std::string& buf, std::string& out, bool final) const {
  // Unless final, a secret may start in the last longest_-1 bytes and end in
  // the next chunk: those bytes wait.
  size_t safe = final ? buf.size() : (buf.size() >= longest_ ? buf.size() - (longest_ - 1) : 0);
  size_t pos = 0;
  while (true) {
    // The earliest match from pos; at one position, the longest form.
    size_t best = std::string::npos, best_len = 0;
    for (const auto& p : patterns_) {
      size_t at = buf.find(p, pos);
      if (at < best) {
        best = at;
        best_len = p.size();
      }
    }
    if (best == std::string::npos || best >= safe) {
      size_t upto = std::max(pos, safe);
      out.append(buf, pos, upto - pos);
      pos = upto;
      break;
    }
    out.append(buf, pos, best - pos);
    out += kMask;
    pos = best + best_len;
  }
  buf.erase(0, pos);
}

std::string SecretMasker::Feed(std::string_view chunk) {
  if (patterns_.empty()) return std::string(chunk);
  held_.append(chunk);
  std::string out;
  Drain(held_, out, false);
  return out;
}

std::string SecretMasker::Flush() {
  std::string out;
  Drain(held_, out, true);
  held_.clear();
  return out;
}

std::string SecretMasker::Mask(std::string_view text) const {
  std::string buf(text), out;
  Drain(buf, out, true);
  return out;
}

namespace {

void WriteAll(int fd, std::string_view text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

}  // namespace

MaskedLog::MaskedLog(int log_fd, const std::vector<std::string>& secrets, int copy_fd)
    : log_(log_fd), copy_(copy_fd) {
  for (const auto& s : secrets) (void)masker_.Add(s);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  read_ = Fd(fds[0]);
  write_ = Fd(fds[1]);
  stop_ = Fd(::eventfd(0, EFD_CLOEXEC));
  pump_ = std::thread([this] { Pump(); });
}

void MaskedLog::Finish() {
  if (!pump_.joinable()) return;
  write_ = Fd();
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  pump_.join();
}

void MaskedLog::Pump() {
  char buf[65536];
  bool stopping = false;
  while (true) {
    pollfd fds[2] = {{read_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    int n = ::poll(fds, stopping ? 1 : 2, stopping ? 200 : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stopping, and nothing more came within the grace
    if (!stopping && (fds[1].revents & POLLIN)) stopping = true;
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    ssize_t got = ::read(read_.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every writer is gone
    std::string_view chunk(buf, static_cast<size_t>(got));
    if (copy_) WriteAll(copy_.get(), chunk);
    WriteAll(log_.get(), masker_.Feed(chunk));
  }
  WriteAll(log_.get(), masker_.Flush());
}

ProcessLog::ProcessLog(Fd file, const std::vector<std::string>& secrets) {
  if (file && !secrets.empty()) {
    masked_ = std::make_unique<MaskedLog>(file.release(), secrets);
  } else {
    file_ = std::move(file);
  }
}

ProcessLog ProcessLog::Open(const std::string& path, const std::vector<std::string>& secrets,
                            int mode) {
  if (path.empty()) return {};
  return {Fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)), secrets};
}

void ProcessLog::Spawned() {
  if (masked_) masked_->Spawned();
  file_ = Fd();
}

}  // namespace strake
