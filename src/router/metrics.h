// The router's metrics: per service and revision, requests by status class,
// upstream errors, mirrored copies and a latency histogram.
//
// RevisionStats are the live tallies. Workers add to them on the request
// path with relaxed atomics and no lock: each counter is an independent
// tally, so Load reads every counter exactly but not all at one instant.
// A Service keeps the RevisionStats of every revision it has routed to for
// as long as the Router lives, so a table swap loses no count and a worker
// may hold a pointer to them in a request in flight.
//
// RevisionCounters and ServiceCounters are plain values: what
// Router::Snapshot returns, what router/wire.h carries to the control plane,
// what PrometheusText renders for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace strake::router {

// Upper bounds of the latency histogram, in seconds.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct RevisionCounters {
  std::string revision;
  uint64_t requests = 0;
  std::array<uint64_t, 6> by_class{};  // index 1..5: 1xx..5xx
  uint64_t upstream_errors = 0;        // refused, reset, timed out (also counted as 5xx)
  uint64_t mirrored = 0;               // copies sent to this revision
  std::array<uint64_t, kLatencyBuckets.size() + 1> buckets{};  // last: +Inf
  double latency_sum_seconds = 0;
};

struct ServiceCounters {
  std::string service;
  uint16_t port = 0;
  uint64_t no_backend = 0;  // 503s answered with no ready endpoint
  std::vector<RevisionCounters> revisions;
};

// The text exposition of counters, as /metrics serves it.
std::string PrometheusText(const std::vector<ServiceCounters>& snapshot);

// The live counters of one revision of one service. Thread-safe.
struct RevisionStats {
  explicit RevisionStats(std::string name) : revision(std::move(name)) {}

  // One answered request: its status (by class) and the time from its head
  // to the end of its response.
  void Record(int status, std::chrono::nanoseconds latency);
  void UpstreamError() { upstream_errors.fetch_add(1, std::memory_order_relaxed); }
  void Mirrored() { mirrored.fetch_add(1, std::memory_order_relaxed); }
  RevisionCounters Load() const;

  const std::string revision;
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, 6> by_class{};
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> mirrored{0};
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets{};
  std::atomic<uint64_t> latency_sum_ns{0};
};

}  // namespace strake::router
