// GroupSync: one fdatasync for many writers of a file (group commit, as
// databases do with their logs). A writer appends under its own lock, takes
// a ticket (Wrote), lets the lock go and waits until a sync that began after
// its write has finished (Durable). The first waiter runs the sync for every
// write made so far; those who arrive while it runs wait for it, or for the
// next one if their write came after it began. So N concurrent writers pay
// about two syncs, not N, and a lone writer pays one, as before.
//
// A failed sync fails every write it was to cover, now and when asked later:
// Linux reports a lost write-back once, so a second sync would say nothing of
// those bytes. Writes after it are synced again. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "base/result.h"

namespace strake {

class GroupSync {
 public:
  // `name` is for errors. `sync` is ::fdatasync unless a test gives another.
  GroupSync(int fd, std::string name, std::function<int(int)> sync = {});

  // A write to the file has completed: its ticket for Durable.
  uint64_t Wrote();
  // Returns once every write up to `ticket` is on disk, or the error of the
  // sync that should have put it there.
  Status Durable(uint64_t ticket);
  // Every ticket up to this one is on disk.
  uint64_t durable() const;
  // The syncs run so far (for tests and figures).
  uint64_t syncs() const;

 private:
  int fd_;
  std::string name_;
  std::function<int(int)> sync_;
  mutable std::mutex mu_;
  std::condition_variable done_;
  uint64_t written_ = 0;  // tickets given
  uint64_t durable_ = 0;  // every ticket up to this is synced
  uint64_t syncs_ = 0;
  uint64_t failed_upto_ = 0;  // a failed sync was to cover the tickets up to this
  int failed_errno_ = 0;
  bool syncing_ = false;
};

}  // namespace strake
