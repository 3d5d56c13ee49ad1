// Sending one notification to one recipient through a service of the
// settings (insight/notify_config.h), in the shapes Argo CD Notifications
// sends (notifications-engine pkg/services):
//   webhook     `method` (GET) to `url` (+ the template's `path`), the
//               template's body (else the message), the service's headers
//               and basicAuth; strake adds `X-Strake-Delivery: <id>` and,
//               with the service's `signingSecret`,
//               `X-Strake-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//   slack       POST `apiURL` (https://slack.com/api/) + chat.postMessage,
//               form-urlencoded: token, channel, text, attachments, blocks,
//               username, icon_emoji | icon_url; `{"ok": false}` fails
//   mattermost  POST `apiURL`/api/v4/posts, Bearer token, JSON
//               {channel_id, message, props: {attachments}}
//   email       SMTP to `host`:`port` (STARTTLS when offered; `username`,
//               `password`), from `from`, to the recipient's addresses
//               (comma separated), `email.subject`, `email.body` or the
//               message, text/plain (`html: true`: text/html); the
//               delivery id is the Message-ID.
// A 2xx answer (and Slack's ok) is sent; anything else is an error the
// outbox tries again. Errors never carry a token or a URL's secret part.
// Through libcurl under the egress policy; each send at most 10 s.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/egress.h"
#include "base/result.h"
#include "insight/notify.h"

namespace strake::insight {

class NotificationSender {
 public:
  virtual ~NotificationSender() = default;
  virtual Status Send(const NotificationService& service, const Delivery& d) = 0;
};
using NotificationSenderPtr = std::unique_ptr<NotificationSender>;

inline constexpr std::chrono::seconds kSendTimeout{10};

NotificationSenderPtr MakeNotificationSender(EgressPolicy egress);

}  // namespace strake::insight
