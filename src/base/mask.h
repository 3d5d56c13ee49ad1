// SecretMasker: finds secrets in text and replaces each with "***", as
// GitHub's runner and GitLab mask job logs, but in every form a secret
// commonly leaks in: raw, base64 at each of the three alignments (a secret
// inside a longer base64 text), URL-encoded, and each line of a multi-line
// secret alone. Text can be fed in chunks: a secret split across two writes
// is still found (the tail that could start one is held back until the next
// chunk or Flush).
//
// A secret (or a form of it) shorter than kMinSecretLength is not masked:
// masking "a" would mangle every log. Add says so, for the caller to warn.
// Not thread-safe; one masker per stream.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/fd.h"

namespace strake {

inline constexpr size_t kMinSecretLength = 8;  // GitLab's rule for masked variables

class SecretMasker {
 public:
  // Adds a secret's forms. False when it is too short to be masked.
  bool Add(std::string_view secret);
  bool empty() const { return patterns_.empty(); }

  // The masked text that can be written now.
  std::string Feed(std::string_view chunk);
  // The rest, at the end of the stream.
  std::string Flush();
  // Masks a whole text at once.
  std::string Mask(std::string_view text) const;

 private:
  // Masks buf; the masked part that is final goes to out, the tail that
  // could begin a secret stays in buf (all of it when `final`).
  void Drain(std::string& buf, std::string& out, bool final) const;

  std::vector<std::string> patterns_;
  size_t longest_ = 0;
  std::string held_;
};

// A process's output on its way to its log through a SecretMasker: the
// process writes a pipe, a thread masks and appends to the log. Finish,
// once the process has ended, writes what is left: everything its writers
// wrote before they closed the pipe, or, if one that escaped its process
// group keeps it open, what is there within a short grace.
class MaskedLog {
 public:
  // Takes `log_fd` (an open, appending log file) and `copy_fd` (-1: none),
  // which gets the output as written, unmasked (a step's stdoutConfig).
  MaskedLog(int log_fd, const std::vector<std::string>& secrets, int copy_fd = -1);
  ~MaskedLog() { Finish(); }
  MaskedLog(const MaskedLog&) = delete;
  MaskedLog& operator=(const MaskedLog&) = delete;

  // The descriptor the process writes (its log's, when no pipe could be made).
  int write_fd() const { return write_ ? write_.get() : log_.get(); }
  // After the spawn: the process holds the only writing end.
  void Spawned() { write_ = Fd(); }
  // Waits for the rest of the output (see above) and writes it.
  void Finish();

 private:
  void Pump();

  Fd log_, copy_;
  Fd read_, write_, stop_;
  SecretMasker masker_;
  std::thread pump_;
};

// A process's log: the file itself when there is nothing to mask, a
// MaskedLog into it when there is. What every runner of processes with a log
// uses: steps and sidecars, batch Jobs, the analysis Job metric. Movable.
class ProcessLog {
 public:
  ProcessLog() = default;
  // Takes `file` (an open, appending log; none: no log, write_fd() is -1).
  ProcessLog(Fd file, const std::vector<std::string>& secrets);
  // Opens `path` to append (created with `mode`); no path or no file: no log.
  static ProcessLog Open(const std::string& path, const std::vector<std::string>& secrets,
                         int mode = 0600);

  // The descriptor the process writes as its stdout and stderr.
  int write_fd() const { return masked_ ? masked_->write_fd() : file_.get(); }
  // After the last spawn: the processes hold the only writing ends.
  void Spawned();
  // Waits for the rest of the output (MaskedLog::Finish) and writes it.
  void Finish() {
    if (masked_) masked_->Finish();
  }

 private:
  Fd file_;  // when nothing is masked
  std::unique_ptr<MaskedLog> masked_;
};

}  // namespace strake
