#include "router/metrics.h"

#include <fmt/format.h>

namespace strake::router {

void RevisionStats::Record(int status, std::chrono::nanoseconds latency) {
  requests.fetch_add(1, std::memory_order_relaxed);
  int cls = status / 100;
  if (cls >= 1 && cls <= 5)
    by_class[static_cast<size_t>(cls)].fetch_add(1, std::memory_order_relaxed);
  double secs = std::chrono::duration<double>(latency).count();
  size_t b = 0;
  while (b < kLatencyBuckets.size() && secs > kLatencyBuckets[b]) ++b;
  buckets[b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns.fetch_add(static_cast<uint64_t>(latency.count()), std::memory_order_relaxed);
}

RevisionCounters RevisionStats::Load() const {
  RevisionCounters rc;
  rc.revision = revision;
  rc.requests = requests.load(std::memory_order_relaxed);
  for (size_t i = 0; i < rc.by_class.size(); ++i) {
    rc.by_class[i] = by_class[i].load(std::memory_order_relaxed);
  }
  rc.upstream_errors = upstream_errors.load(std::memory_order_relaxed);
  rc.mirrored = mirrored.load(std::memory_order_relaxed);
  for (size_t i = 0; i < rc.buckets.size(); ++i) {
    rc.buckets[i] = buckets[i].load(std::memory_order_relaxed);
  }
  rc.latency_sum_seconds =
      static_cast<double>(latency_sum_ns.load(std::memory_order_relaxed)) / 1e9;
  return rc;
}

namespace {

void RequestsText(const std::vector<ServiceCounters>& snap, std::string& out) {
  out +=
      "# HELP strake_router_requests_total Requests answered by the embedded router.\n"
      "# TYPE strake_router_requests_total counter\n";
  for (const auto& s : snap) {
    for (const auto& r : s.revisions) {
      for (size_t c = 1; c <= 5; ++c) {
        out += fmt::format(
            "strake_router_requests_total{{service=\"{}\",revision=\"{}\",code=\"{}xx\"}} {}\n",
            s.service, r.revision, c, r.by_class[c]);
      }
    }
  }
}

void ErrorsText(const std::vector<ServiceCounters>& snap, std::string& out) {
  out +=
      "# HELP strake_router_upstream_errors_total Requests whose upstream refused, broke or timed "
      "out.\n# TYPE strake_router_upstream_errors_total counter\n";
  for (const auto& s : snap) {
    for (const auto& r : s.revisions) {
      out +=
          fmt::format("strake_router_upstream_errors_total{{service=\"{}\",revision=\"{}\"}} {}\n",
                      s.service, r.revision, r.upstream_errors);
    }
  }
}

void MirroredText(const std::vector<ServiceCounters>& snap, std::string& out) {
  out +=
      "# HELP strake_router_mirrored_requests_total Request copies sent by mirror routes.\n"
      "# TYPE strake_router_mirrored_requests_total counter\n";
  for (const auto& s : snap) {
    for (const auto& r : s.revisions) {
      out += fmt::format(
          "strake_router_mirrored_requests_total{{service=\"{}\",revision=\"{}\"}} {}\n", s.service,
          r.revision, r.mirrored);
    }
  }
}

void NoBackendText(const std::vector<ServiceCounters>& snap, std::string& out) {
  out +=
      "# HELP strake_router_no_backend_total Requests answered 503 for want of a ready endpoint.\n"
      "# TYPE strake_router_no_backend_total counter\n";
  for (const auto& s : snap) {
    out += fmt::format("strake_router_no_backend_total{{service=\"{}\"}} {}\n", s.service,
                       s.no_backend);
  }
}

void LatencyText(const std::vector<ServiceCounters>& snap, std::string& out) {
  out +=
      "# HELP strake_router_request_duration_seconds Time from request head to response end.\n"
      "# TYPE strake_router_request_duration_seconds histogram\n";
  for (const auto& s : snap) {
    for (const auto& r : s.revisions) {
      uint64_t cumulative = 0;
      std::string labels = fmt::format("service=\"{}\",revision=\"{}\"", s.service, r.revision);
      for (size_t b = 0; b < r.buckets.size(); ++b) {
        cumulative += r.buckets[b];
        std::string le =
            b < kLatencyBuckets.size() ? fmt::format("{}", kLatencyBuckets[b]) : "+Inf";
        out += fmt::format("strake_router_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                           labels, le, cumulative);
      }
      out += fmt::format("strake_router_request_duration_seconds_sum{{{}}} {}\n", labels,
                         r.latency_sum_seconds);
      out += fmt::format("strake_router_request_duration_seconds_count{{{}}} {}\n", labels,
                         cumulative);
    }
  }
}

}  // namespace

std::string PrometheusText(const std::vector<ServiceCounters>& snapshot) {
  std::string out;
  RequestsText(snapshot, out);
  ErrorsText(snapshot, out);
  MirroredText(snapshot, out);
  NoBackendText(snapshot, out);
  LatencyText(snapshot, out);
  return out;
}

}  // namespace strake::router
