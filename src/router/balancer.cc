#include "router/balancer.h"

namespace strake::router {

namespace {

bool HeadersMatch(const std::vector<std::pair<std::string, StringMatch>>& want,
                  const http::Head& head) {
  for (const auto& [name, match] : want) {
    auto v = head.Header(name);
    if (!v || !match.Matches(*v)) return false;
  }
  return true;
}

bool MirrorMatches(const MirrorRoute& mr, const http::Head& head) {
  return (!mr.method || mr.method->Matches(head.method)) &&
         (!mr.path || mr.path->Matches(head.target)) && HeadersMatch(mr.headers, head);
}

}  // namespace

void Balancer::Reset(size_t backends) {
  current_.assign(backends, 0);
  next_.assign(backends, 0);
  shape_.clear();
}

void Balancer::Adopt(const RouteTable& table) {
  std::vector<std::pair<std::string, uint32_t>> shape;
  shape.reserve(table.backends.size());
  for (const Backend& b : table.backends) shape.emplace_back(b.revision, b.weight);
  if (shape == shape_ && current_.size() == shape.size()) return;
  Reset(shape.size());
  shape_ = std::move(shape);
}

size_t Balancer::PickBackend(const RouteTable& table, const http::Head& head) {
  for (const HeaderRoute& hr : table.header_routes) {
    if (HeadersMatch(hr.headers, head)) return hr.backend;
  }
  int64_t total = 0;
  size_t best = kNone;
  for (size_t i = 0; i < table.backends.size(); ++i) {
    const Backend& b = table.backends[i];
    if (b.weight == 0 || b.ports.empty()) continue;
    current_[i] += b.weight;
    total += b.weight;
    if (best == kNone || current_[i] > current_[best]) best = i;
  }
  if (best != kNone) current_[best] -= total;
  return best;
}

size_t Balancer::PickMirror(const RouteTable& table, const http::Head& head, bool copyable) {
  for (const MirrorRoute& mr : table.mirror_routes) {
    if (!MirrorMatches(mr, head)) continue;
    mirror_share_ += mr.percentage;
    if (mirror_share_ < 100) return kNone;
    mirror_share_ -= 100;
    bool ready = !table.backends[mr.backend].ports.empty();
    return copyable && ready ? mr.backend : kNone;
  }
  return kNone;
}

}  // namespace strake::router
