// Notifications, exactly once: what an object's change asks to be sent,
// decided as Argo CD Notifications decides it (notifications-engine
// pkg/controller), and recorded durably before anything is sent.
//
// A watched object (a "subject": Application `app`, Rollout `rollout`,
// Stage `stage`, Promotion `promotion`, PipelineRun `pipelineRun`, Freight
// `freight`) has destinations per trigger: its
// `notifications.argoproj.io/subscribe.<trigger>.<service>: "r1;r2"` and
// `…/subscribe.<service>` (default triggers) annotations, and the
// ConfigMap's `subscriptions` whose selector matches its labels, each
// (service, recipient) once.
//
// Two kinds of trigger condition:
// - with `when` (Argo CD's): evaluated over the object; true and its state
//   key not yet notified sends, and records the key
//   `[<oncePer>:]<trigger>:[<i>].<sha1 of when>:<service>:<recipient>`
//   (Argo's `notified.notifications.argoproj.io` keys, with their unix
//   seconds); false forgets a key without oncePer, so the next true sends
//   again. A `when` that cannot be evaluated is false, as in Argo.
// - without `when` (Argo Rollouts'): sent once for each event of the
//   object whose reason is the trigger's (`RolloutCompleted` is
//   `on-rollout-completed`), read from the store's change log after the
//   last revision read; with `oncePer`, once per its value (which Argo
//   Rollouts ignores: argo-rollouts #5037). Its templates also see
//   `.event`: {reason, message, revision, time} (RFC 3339, milliseconds).
// Each notification to send becomes a Delivery in the subject's outbox,
// rendered then, with a stable id (what a receiver deduplicates on); the
// outbox, the keys and the revision read are one record, written in one
// store write, so a crash before it decides again from the same state and
// one after it never decides twice. The sender (notify_send.h) empties
// the outbox. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "insight/notify_config.h"

namespace strake::insight {

inline constexpr const char* kSubscribePrefix = "notifications.argoproj.io/subscribe.";
// Argo keeps at most this many state keys per object (oldest dropped).
inline constexpr size_t kMaxNotifiedKeys = 100;
// An outbox holds at most this many deliveries; past it, new ones are
// dropped and said (a receiver down for long must not grow a record).
inline constexpr size_t kMaxOutbox = 100;
// A rendered notification, and all of an outbox's, are at most this large
// (the record is one store object): more is dropped and said.
inline constexpr size_t kMaxNotificationBytes = size_t{256} << 10;
inline constexpr size_t kMaxOutboxBytes = size_t{2} << 20;

struct Destination {
  std::string service, recipient;
  bool operator<(const Destination& o) const {
    return std::tie(service, recipient) < std::tie(o.service, o.recipient);
  }
  bool operator==(const Destination&) const = default;
};

// The object a notification is about.
struct Subject {
  std::string kind;  // "Application"…
  std::string var;   // the variable templates and triggers see it as: "app"…
  std::string uid;
  Json object;  // as the API shows it: metadata, spec, status
  std::string name;
};

// The variable name of a kind ("" when its changes notify nothing).
std::string SubjectVariable(const std::string& kind);
// The kinds whose changes notify.
const std::vector<std::string>& SubjectKinds();

// Per trigger, the subject's destinations.
std::map<std::string, std::vector<Destination>> Destinations(const NotificationConfig& cfg,
                                                             const Json& object);

// One notification to send, rendered.
struct Delivery {
  std::string id;  // stable and unique: sha256 of the subject's uid and its key
  std::string trigger;
  Destination to;
  // {message, email: {subject, body}, slack: {attachments, blocks,
  // username, icon}, mattermost: {attachments}, webhook: {method, path,
  // body}}: only what the templates gave.
  Json notification;
  int attempts = 0;
  int64_t next_attempt_ms = 0;  // 0: at once
  std::string last_error;
};

// What a subject's notifications keep between changes.
struct NotifyState {
  std::map<std::string, int64_t> notified;  // state key -> unix seconds
  int64_t revision = 0;                     // the last change of the subject read
  std::vector<Delivery> outbox;
};
Json NotifyStateToJson(const NotifyState& s);
NotifyState NotifyStateFromJson(const Json& j);

// One change of the subject, from the store's change log.
struct SubjectEvent {
  int64_t revision = 0;
  std::string reason;
  std::string message;
  int64_t time_ms = 0;
};

// Argo CD's isAppSyncStatusRefreshed: false while an Application's
// operation has ended (Succeeded, Failed, Error) after its status was last
// reconciled (`reconciledAt`, `observedAt`): its health and sync may be
// the operation's stale ones, so its triggers wait for the next status.
bool AppStatusRefreshed(const Json& app);

// Argo Rollouts' trigger of an event reason: "on-" and its kebab case.
std::string TriggerOfReason(const std::string& reason);

struct Decision {
  NotifyState state;
  std::vector<std::string> problems;  // templates that failed to render…
  bool changed = false;  // keys or outbox differ from the prior ones (not only the revision)
};

// What `subject`'s state and events ask to send, with the config's
// Secret's values (for `.secrets` in templates) at `now_s`.
Decision Decide(const NotificationConfig& cfg, const std::map<std::string, std::string>& secrets,
                const Subject& subject, const NotifyState& prior,
                const std::vector<SubjectEvent>& events, int64_t now_s);

}  // namespace strake::insight
