#include "base/group_sync.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace strake {

GroupSync::GroupSync(int fd, std::string name, std::function<int(int)> sync)
    : fd_(fd), name_(std::move(name)), sync_(std::move(sync)) {
  if (!sync_) sync_ = [](int f) { return ::fdatasync(f); };
}

uint64_t GroupSync::Wrote() {
  std::lock_guard<std::mutex> lock(mu_);
  return ++written_;
}

uint64_t GroupSync::durable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_;
}

uint64_t GroupSync::syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

Status GroupSync::Durable(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (durable_ >= ticket) return Ok();
    // The sync that covered this write failed: its bytes may not be on disk.
    if (failed_upto_ >= ticket)
      return Failf(ErrorCode::kUnavailable, "{}: {}", name_, std::strerror(failed_errno_));
    if (syncing_) {
      done_.wait(lock);
      continue;
    }
    syncing_ = true;
    uint64_t target = written_;
    lock.unlock();
    int rc = sync_(fd_);
    int err = rc == 0 ? 0 : errno;
    lock.lock();
    syncing_ = false;
    ++syncs_;
    if (rc == 0) {
      durable_ = std::max(durable_, target);
    } else {
      failed_upto_ = std::max(failed_upto_, target);
      failed_errno_ = err;
    }
    done_.notify_all();
  }
}

}  // namespace strake
