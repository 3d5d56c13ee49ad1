// Notification settings as Argo CD Notifications reads them, unchanged: the
// ConfigMap `argocd-notifications-cm` (Argo Rollouts' is
// `argo-rollouts-notification-configmap`) and its Secret
// `argocd-notifications-secret` (`argo-rollouts-notification-secret`), in
// the namespace of the objects they notify about.
//
// ConfigMap keys (notifications-engine pkg/api/config.go):
//   trigger.<name>            YAML list of {when, oncePer, send, description}
//   template.<name>           YAML {message, email{subject, body},
//                             slack{attachments, blocks, username, icon},
//                             mattermost{attachments},
//                             webhook{<service>: {method, path, body}}}
//   service.<type>[.<name>]   YAML options of a webhook, slack, mattermost
//                             or email service; `$key` anywhere in a string
//                             is the Secret's value of key
//   subscriptions             YAML list of {recipients: ["svc:rcpt"],
//                             triggers, selector}
//   defaultTriggers[.<svc>]   YAML list of trigger names
//   context                   YAML map of strings (templates' .context)
// Every expression (`when`, `oncePer`: expr-lang, rollout/expr.h) and
// template (Go text/template, model/go_template.h) is compiled when read:
// an error names the key and the field ("data.trigger.on-deployed[0].when:
// col 5: …"), so that admission refuses a ConfigMap that cannot work.
// A service of another type (teams, opsgenie…) is refused with the types
// that are sent. Pure; the parsed settings are immutable and shared.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/go_template.h"
#include "model/node.h"
#include "rollout/expr.h"

namespace strake::insight {

using model::Json;

inline constexpr const char* kNotificationsConfigMap = "argocd-notifications-cm";
inline constexpr const char* kNotificationsSecret = "argocd-notifications-secret";
inline constexpr const char* kRolloutsConfigMap = "argo-rollouts-notification-configmap";
inline constexpr const char* kRolloutsSecret = "argo-rollouts-notification-secret";

// One condition of a trigger.
struct TriggerCondition {
  std::string when_text;  // as written; "" sends on each event of the trigger
  std::optional<rollout::Expr> when;
  std::optional<rollout::Expr> once_per;
  std::vector<std::string> send;  // template names
  std::string description;
};

struct NotificationTemplate {
  std::optional<model::GoTemplate> message;
  std::optional<model::GoTemplate> email_subject, email_body;
  std::optional<model::GoTemplate> slack_attachments, slack_blocks;
  std::string slack_username, slack_icon;
  std::optional<model::GoTemplate> mattermost_attachments;
  struct Webhook {
    std::string method;
    std::optional<model::GoTemplate> path, body;
  };
  std::map<std::string, Webhook> webhook;  // by service name
};

struct NotificationService {
  std::string type;  // "webhook", "slack", "mattermost", "email"
  std::string name;  // "slack", or "<name>" of service.<type>.<name>
  Json options;      // with the Secret's values in place of `$key`
};

struct Subscription {
  std::vector<std::pair<std::string, std::string>> recipients;  // (service, recipient)
  std::vector<std::string> triggers;                            // empty: the default triggers
  std::string selector;                                         // a label selector, "" any
};

struct NotificationConfig {
  std::map<std::string, std::vector<TriggerCondition>> triggers;
  std::map<std::string, NotificationTemplate> templates;
  std::map<std::string, NotificationService> services;
  std::vector<Subscription> subscriptions;
  std::vector<std::string> default_triggers;
  std::map<std::string, std::vector<std::string>> default_triggers_by_service;
  std::map<std::string, std::string> context;
};
using NotificationConfigPtr = std::shared_ptr<const NotificationConfig>;

// The settings of a ConfigMap's `data` with its Secret's values (key ->
// value; empty when there is none). `where` prefixes errors ("configmap
// argocd-notifications-cm"); every problem is listed, one per line.
Result<NotificationConfig> ParseNotificationConfig(const Json& data,
                                                   const std::map<std::string, std::string>& secret,
                                                   const std::string& where);

}  // namespace strake::insight
