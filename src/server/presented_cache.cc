#include "server/presented_cache.h"

namespace strake::server {

PresentedCache::Text PresentedCache::Find(const store::Key& key, int64_t resource_version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key.ToString());
  if (it == index_.end() || it->second->version != resource_version) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->text;
}

void PresentedCache::Put(const store::Key& key, int64_t resource_version, Text text) {
  if (!text || text->size() > max_bytes_) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = key.ToString();
  if (auto it = index_.find(id); it != index_.end()) DropLocked(it->second);
  bytes_ += text->size();
  lru_.push_front(Entry{id, resource_version, std::move(text)});
  index_[std::move(id)] = lru_.begin();
  while (bytes_ > max_bytes_ && !lru_.empty()) DropLocked(std::prev(lru_.end()));
}

void PresentedCache::DropLocked(std::list<Entry>::iterator it) {
  bytes_ -= it->text->size();
  index_.erase(it->id);
  lru_.erase(it);
}

size_t PresentedCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t PresentedCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace strake::server
