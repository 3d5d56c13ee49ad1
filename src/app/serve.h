// Serve: `strake serve`, the control plane on one machine.
//
// Opens the store, re-adopts the workload replicas a previous run left
// (kill -9 included), finds or starts the `strake router` process (the
// embedded router, in a process of its own so traffic outlives this one;
// app/router_process.h), starts the Rollout and
// AnalysisRun controllers and the HTTP API, and runs until SIGINT or
// SIGTERM. Every Rollout and AnalysisRun is reconciled at start, so a
// pause resumes with only its remaining time and analysis picks up where it
// stood. Stopping leaves the workloads and the router running (the next
// start adopts them) unless stop_workloads is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/egress.h"
#include "base/result.h"

namespace strake::app {

struct ServeOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:7300";
  // HTTPS when both are given (PEM files); neither: plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  std::string work_dir;  // where workload commands run; default: the current directory
  bool stop_workloads = false;
  // Workloads, Jobs (sync hooks), exec probes and analysis jobs run their
  // commands (from git) in a bubblewrap sandbox, as pipeline steps do.
  bool sandbox = true;
  // With the sandbox, pipeline steps, workloads, Jobs and analysis jobs run
  // in their images, pulled from their registries under the egress policy
  // (images/store.h); those whose image matches one of `host_images`
  // (base/container.h RunsOnHost) run with this machine's programs instead.
  std::vector<std::string> host_images;
  // Docker's insecure-registries: HTTPS unchecked, else plain HTTP.
  std::vector<std::string> insecure_registries;
  // With images: the image store collected every image_gc_interval
  // to stay under this many bytes (0: never collected by the server).
  int64_t image_store_max_bytes = 0;
  std::chrono::milliseconds image_gc_interval{std::chrono::minutes(5)};
  // Where metric providers and git remotes may connect (base/egress.h):
  // public addresses only, unless `--egress-allow` says more.
  EgressPolicy egress;
  int router_workers = 2;
  // The strake binary that runs `strake router` (empty: this one).
  std::string router_exe;
  // Called once the API answers, with its address ("http://127.0.0.1:7300").
  std::function<void(const std::string&)> on_ready;
  // Called once, at the first start of a data directory, with the admin
  // token that was made (the only time it is shown).
  std::function<void(const std::string&)> on_admin_token;
};

// Runs until SIGINT/SIGTERM or `stop` becomes true (checked every 100 ms).
Status Serve(const ServeOptions& options, const std::atomic<bool>* stop = nullptr);

}  // namespace strake::app
