// The text of stored objects as the API presents them (Api::Present, then
// dump), kept per object and resourceVersion, so that listing thousands of
// objects that have not changed copies their texts instead of parsing each
// one's stored JSON again (Argo CD's lists of thousands of Applications take
// tens of seconds; this is what keeps strake's under 100 ms).
//
// Never stale: every write gives an object a new resourceVersion (the
// store's global revision), so a changed object is a miss and its old text
// is replaced; a deleted one is not listed and ages out. Bounded in bytes,
// least recently used first out. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/store.h"

namespace strake::server {

class PresentedCache {
 public:
  using Text = std::shared_ptr<const std::string>;

  explicit PresentedCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The text of `key` at `resource_version`, or null.
  Text Find(const store::Key& key, int64_t resource_version);
  // Keeps `text` as `key`'s at `resource_version` (replacing any other).
  void Put(const store::Key& key, int64_t resource_version, Text text);

  size_t bytes() const;
  size_t size() const;

 private:
  struct Entry {
    std::string id;  // kind/ns/name
    int64_t version;
    Text text;
  };
  void DropLocked(std::list<Entry>::iterator it);

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
};

}  // namespace strake::server
