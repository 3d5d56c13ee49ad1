// Abort latency of a canary under load, through the real API:
//   abort_latency SERVER_URL SERVICE_PORT ROLLOUT TRIALS CANARY_BODY_PART
// The rollout must be paused at a setWeight with a canary that answers with
// a different body than stable. Each trial: load on keep-alive connections,
// POST .../abort, then find the last request *sent* after the call that was
// still answered by the canary. The latency is from the moment the call was
// made until the moment after which every request went to stable. Then
// POST .../retry and wait for the canary to take traffic again.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "base/net.h"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
  Clock::time_point sent;
  std::string body;
};

// The API token from $STRAKE_TOKEN, as the CLI takes it.
std::vector<std::pair<std::string, std::string>> Auth() {
  const char* t = std::getenv("STRAKE_TOKEN");
  if (!t || !*t) return {};
  return {{"Authorization", std::string("Bearer ") + t}};
}

std::string StatusPhase(const strake::HttpUrl& api, const std::string& path) {
  auto r = strake::http::Fetch(api.host, api.port, {"GET", path, Auth(), ""}, 5s);
  if (!r) return "";
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() ? j["status"].value("phase", "") : "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    fmt::print(stderr,
               "usage: abort_latency SERVER_URL SERVICE_PORT ROLLOUT TRIALS CANARY_BODY_PART\n");
    return 2;
  }
  // Tells the canary's answers from stable's; at 50/50 their counts tie.
  std::string canary_marker = argv[5];
  auto api = strake::ParseHttpUrl(argv[1]);
  if (!api) return 2;
  auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  std::string path =
      fmt::format("/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/{}", argv[3]);
  int trials = std::atoi(argv[4]);
  std::vector<double> latencies, calls;
  for (int t = 0; t < trials; ++t) {
    // Wait for the canary to be paused and serving.
    std::string stable_body;
    for (int i = 0; i < 600 && StatusPhase(*api, path) != "Paused"; ++i)
      std::this_thread::sleep_for(50ms);
    std::mutex mu;
    std::vector<Sample> samples;
    std::atomic<bool> stop{false};
    std::vector<std::thread> load;
    for (int c = 0; c < 4; ++c) {
      load.emplace_back([&] {
        auto conn = strake::http::Connection::Open("127.0.0.1", port, 2s);
        while (!stop && conn) {
          auto sent = Clock::now();
          auto r = conn->RoundTrip({}, 5s);
          if (!r) {
            conn = strake::http::Connection::Open("127.0.0.1", port, 2s);
            continue;
          }
          std::lock_guard<std::mutex> lock(mu);
          samples.push_back({sent, r->body});
        }
      });
    }
    // Paused is written before the canary's replicas are ready after a retry:
    // measure only once both versions answer, or the "canary" below would be
    // the stable version and the trial would count the whole observation.
    std::string canary_body;
    for (int wait = 0;; ++wait) {
      std::this_thread::sleep_for(100ms);
      std::lock_guard<std::mutex> lock(mu);
      std::map<std::string, int> seen;
      for (const auto& s : samples) seen[s.body]++;
      if (seen.size() < 2 && wait < 100) continue;
      if (seen.size() < 2) {
        fmt::print(stderr, "trial {}: the canary took no traffic within 10 s\n", t);
        return 1;
      }
      for (const auto& [body, n] : seen) {
        if (body.find(canary_marker) != std::string::npos) canary_body = body;
      }
      if (canary_body.empty()) {
        fmt::print(stderr, "no answer contains {:?}\n", canary_marker);
        return 1;
      }
      break;
    }
    auto t0 = Clock::now();
    auto r = strake::http::Fetch(api->host, api->port, {"POST", path + "/abort", Auth(), "{}"}, 5s);
    auto t1 = Clock::now();
    if (!r || r->status != 200) {
      fmt::print(stderr, "abort failed\n");
      return 1;
    }
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& th : load) th.join();
    auto last = t0;
    for (const auto& s : samples) {
      if (s.body == canary_body && s.sent > last) last = s.sent;
    }
    latencies.push_back(std::chrono::duration<double, std::milli>(last - t0).count());
    calls.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    (void)strake::http::Fetch(api->host, api->port, {"POST", path + "/retry", Auth(), "{}"}, 5s);
    std::this_thread::sleep_for(200ms);
  }
  std::sort(latencies.begin(), latencies.end());
  std::sort(calls.begin(), calls.end());
  auto pct = [](const std::vector<double>& v, double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  fmt::print(
      "abort latency over {} trials: p50 {:.2f} ms, p90 {:.2f} ms, max {:.2f} ms "
      "(the API call itself: p50 {:.2f} ms, max {:.2f} ms)\n",
      latencies.size(), pct(latencies, 0.5), pct(latencies, 0.9), latencies.back(), pct(calls, 0.5),
      calls.back());
  return 0;
}
