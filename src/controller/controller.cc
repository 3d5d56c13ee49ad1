#include "controller/controller.h"

#include <fmt/format.h>

#include "base/log.h"

namespace strake::controller {

Controller::Controller(std::string name, Reconciler& reconciler, int workers)
    : name_(std::move(name)), reconciler_(reconciler), workers_(workers) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Worker(); });
}

void Controller::Stop() {
  queue_.ShutDown();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Controller::Worker() {
  std::string key;
  while (queue_.Get(&key)) Process(key);
}

bool Controller::ReconcileHereIfIdle(const std::string& key) {
  if (!queue_.TryClaim(key)) return false;
  Process(key);
  return true;
}

void Controller::Process(const std::string& key) {
  Result<ReconcileResult> r = Fail("reconcile threw");
  try {
    r = reconciler_.Reconcile(key);
  } catch (const std::exception& e) {
    r = Failf("{}: unexpected exception: {}", key, e.what());
  }
  if (!r) {
    Log(LogLevel::kWarn, "{}: {}: {} (will retry)", name_, key, r.error().message);
    queue_.AddRateLimited(key);
  } else {
    queue_.Forget(key);
    if (r->requeue_after) queue_.AddAfter(key, *r->requeue_after);
  }
  queue_.Done(key);
  ++reconciles_;
  if (!r) ++errors_;
}

std::string Controller::PrometheusText() const {
  return fmt::format(
      "strake_controller_reconciles_total{{controller=\"{0}\"}} {1}\n"
      "strake_controller_reconcile_errors_total{{controller=\"{0}\"}} {2}\n"
      "strake_controller_queue_depth{{controller=\"{0}\"}} {3}\n",
      name_, reconciles_.load(), errors_.load(), queue_.Len());
}

}  // namespace strake::controller
