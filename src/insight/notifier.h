// The notifications controller (keys "Kind/namespace/name" of the kinds
// insight/notify.h watches): for one object, reads its namespace's
// settings (insight/notify_config.h, parsed once per version of the
// ConfigMap and Secret), decides what its change asks to send
// (notify.h Decide), records that in the object's NotificationState —
// the outbox, Argo's state keys and the last change read, in one write —
// and then sends what is due, recording each send (a second write).
//
// Exactly once, as far as a receiver lets it be: a decision is recorded
// before anything is sent, and never made twice (kill -9 before the record:
// decided again from the same state; after it: the outbox has it). A send
// is acknowledged by a write after it; a crash between the two sends the
// delivery again with the same id (the webhook's X-Strake-Delivery, the
// mail's Message-ID), which is what a receiver deduplicates on. A send
// that fails is tried again after 1 s, doubling to at most 5 minutes, at
// most kMaxAttempts times; then it is dropped with an event saying why.
//
// NotificationState (strake.dev/v1, named "<kind>.<name>" in the object's
// namespace, owned by it) is the server's own record; every write of it
// is an event ("Notified", "Sent", "SendFailed", "Dropped"). Thread-safe:
// the controller runs one reconcile per key at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "controller/controller.h"
#include "insight/notify.h"
#include "insight/notify_send.h"
#include "store/store.h"

namespace strake::insight {

inline constexpr const char* kNotificationStateKind = "NotificationState";
inline constexpr int kMaxAttempts = 10;

class Notifier {
 public:
  Notifier(store::Store& store, const Clock& clock, NotificationSenderPtr sender)
      : store_(store), clock_(clock), sender_(std::move(sender)) {}

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

  // Whether changes of `kind` notify, and the key of one.
  static bool Watches(const std::string& kind) { return !SubjectVariable(kind).empty(); }
  // How a change of a namespace's settings (a key of IsSettings) asks for
  // each object of the namespace to be looked at again.
  void SetEnqueue(std::function<void(const std::string&)> enqueue) {
    enqueue_ = std::move(enqueue);
  }
  static std::string KeyOf(const store::Key& key);
  // The key of the object a NotificationState is the record of.
  static std::string SubjectKeyOf(const store::Resource& record);
  // Whether a change of this ConfigMap or Secret changes a namespace's
  // settings (every subject of the namespace is then looked at again).
  static bool IsSettings(const store::Key& key);

  // The name of a subject's NotificationState.
  static std::string StateName(const std::string& kind, const std::string& name);

 private:
  struct Settings {
    int64_t version = 0;  // the ConfigMap's resource_version
    NotificationConfigPtr config;
    std::map<std::string, std::string> secrets;
  };
  // The settings for `kind` in `ns` (nullptr: none); an error when the
  // store fails. Settings that do not parse are logged once and are none.
  Result<std::shared_ptr<const Settings>> SettingsFor(const std::string& kind,
                                                      const std::string& ns);
  // Writes `state` as the record `key` of `subject` (made when `version`
  // is 0); the new version.
  Result<int64_t> Write(const store::Key& key, const Subject& subject, const NotifyState& state,
                        int64_t version, const std::string& reason, const std::string& message);
  // Sends what is due (a few per pass, none more to a service that just
  // failed); the time of the next attempt, if any waits.
  Result<std::optional<int64_t>> SendDue(const store::Key& key, const Subject& subject,
                                         const Settings& settings, NotifyState& state,
                                         int64_t& version);
  // The record of an object that is gone (or made anew): its outbox sent,
  // then the record deleted.
  Result<controller::ReconcileResult> Gone(const store::Key& key, const store::Resource& stored,
                                           const Settings* settings);
  // A first record: Argo CD's keys from the object's annotation, and where
  // reading its events starts.
  Result<NotifyState> FirstState(const store::Key& k, const Json& object, int64_t settings_version);

  // Every subject of the settings' namespace, enqueued.
  Status EnqueueNamespace(const std::string& ns);

  store::Store& store_;
  const Clock& clock_;
  NotificationSenderPtr sender_;
  std::function<void(const std::string&)> enqueue_;
  std::mutex mu_;  // guards cache_
  // By "namespace/ConfigMap": the versions it was parsed at, and the result.
  struct Cached {
    int64_t cm_version = -1, secret_version = -1;
    std::shared_ptr<const Settings> settings;
  };
  std::map<std::string, Cached> cache_;
};

}  // namespace strake::insight
